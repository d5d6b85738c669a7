"""Tool-definition pinning: a tool from an `mcp` or `openapi` connector is offered to agents
only in a definition a reviewer approved (or, in development, the first one seen); a new or
changed definition waits in quarantine, hidden and uncallable, until it is approved."""
