"""Prometheus metrics of the approval stage (registered in the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PENDING = Gauge("gateway_approvals_pending", "Approvals waiting for a decision")
TIME_TO_DECISION = Histogram(
    "gateway_approval_decision_seconds",
    "Seconds from an approval request to its decision or expiry",
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400),
)
OUTCOMES = Counter("gateway_approval_outcomes_total", "Decided approvals by outcome", ["outcome"])
