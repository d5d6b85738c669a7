"""Prometheus metrics of the approval stage, registered in the gateway's own registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class ApprovalMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.pending = Gauge("gateway_approvals_pending", "Approvals waiting for a decision.", registry=registry)
        self.time_to_decision = Histogram(
            "gateway_approval_decision_seconds",
            "Seconds from an approval request to its decision or expiry.",
            buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
            registry=registry,
        )
        self.outcomes = Counter(
            "gateway_approval_outcomes", "Decided approvals by outcome.", ["outcome"], registry=registry
        )
