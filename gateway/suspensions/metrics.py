"""Kill-switch metrics, registered in the gateway's registry."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge

from gateway.suspensions.model import SCOPES, Suspension


class SuspensionMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.active = Gauge(
            "gateway_suspensions_active",
            "Suspensions in force, by scope (subject, client, tenant, all) and source (manual, brake).",
            ["scope", "source"],
            registry=registry,
        )
        self.refused = Counter(
            "gateway_suspended_calls_refused",
            "Calls refused because their agent, client or tenant is suspended, by the suspension's scope.",
            ["scope"],
            registry=registry,
        )
        self.cancelled = Counter(
            "gateway_suspended_calls_cancelled",
            "In-flight upstream requests cancelled because their agent was suspended.",
            registry=registry,
        )
        for scope in SCOPES:
            self.refused.labels(scope)
            for source in ("manual", "brake"):
                self.active.labels(scope, source)

    def set_active(self, active: Iterable[Suspension]) -> None:
        counts = {(scope, source): 0 for scope in SCOPES for source in ("manual", "brake")}
        for s in active:
            key = (s.scope, "brake" if s.source.startswith("brake:") else "manual")
            counts[key] += 1
        for (scope, source), count in counts.items():
            self.active.labels(scope, source).set(count)
