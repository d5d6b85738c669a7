"""Inspect: what comes back from a backend, governed before it reaches the agent
(result rules from the policy files, entity detectors, screening for injected text)."""
