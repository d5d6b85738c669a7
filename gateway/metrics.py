"""Prometheus metrics: one registry per gateway instance, so several gateways (tests,
replicas in one process) never share counters. Names follow Prometheus conventions and
are documented in docs/metrics.md."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

#: Latency buckets from 250 µs (policy, audit) to 60 s (slow backends).
_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.tool_calls = Counter(
            "gateway_tool_calls",
            "Tool calls by connector, tool, policy decision and outcome.",
            ["connector", "tool", "decision", "outcome"],
            registry=registry,
        )
        self.call_duration = Histogram(
            "gateway_tool_call_duration_seconds",
            "End-to-end time of a tool call inside the gateway, by connector.",
            ["connector"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.stage_duration = Histogram(
            "gateway_stage_duration_seconds",
            "Time spent in each stage of the call path.",
            ["stage"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.rejected_requests = Counter(
            "gateway_rejected_requests",
            "Requests rejected before reaching the pipeline, by reason.",
            ["reason"],
            registry=registry,
        )
        self.policy_reloads = Counter(
            "gateway_policy_reloads",
            "Policy reload attempts by result.",
            ["result"],
            registry=registry,
        )
        self.policy_info = Info("gateway_policy", "The policy currently in force.", registry=registry)
        self.backend_up = Gauge(
            "gateway_backend_up",
            "1 when the connector's backend answered its last health check, else 0.",
            ["connector"],
            registry=registry,
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
