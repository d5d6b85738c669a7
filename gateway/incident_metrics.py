"""Metrics of incident response: the kill switch, the automatic brakes and the shadow
policy. Part of the gateway's registry (`Metrics.incident`); imports nothing of the gateway
but the way metrics are declared."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry

from gateway.metric_declarer import MetricDeclarer

SCOPES = ("subject", "client", "tenant", "all")
SOURCES = ("manual", "brake")


class _Suspension(Protocol):
    @property
    def scope(self) -> str: ...

    @property
    def source(self) -> str: ...


class IncidentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        metric = MetricDeclarer(registry)
        self.suspensions_active = metric.gauge(
            "gateway_suspensions_active",
            "Suspensions in force, by scope (subject, client, tenant, all) and source (manual, brake); every "
            "replica reports the shared store's set.",
            ["scope", "source"],
        )
        self.suspended_refused = metric.counter(
            "gateway_suspended_calls_refused",
            "Calls refused because their agent, client or tenant is suspended, by the suspension's scope.",
            ["scope"],
            known=SCOPES,
        )
        self.suspended_cancelled = metric.counter(
            "gateway_suspended_calls_cancelled",
            "In-flight upstream requests cancelled because their agent was suspended.",
        )
        self.brake_trips = metric.counter(
            "gateway_brake_trips", "Agents suspended by an automatic brake, by brake.", ["brake"]
        )
        self.shadow_decisions = metric.counter(
            "gateway_shadow_decisions", "Live calls also decided under the shadow policy."
        )
        self.shadow_changed = metric.counter(
            "gateway_shadow_decisions_changed",
            "Live calls the shadow (candidate) policy decides differently, by the candidate's rule and the change "
            "(active effect -> candidate effect).",
            ["rule", "change"],
        )
        self.set_active(())

    def set_active(self, active: Iterable[_Suspension]) -> None:
        counts = {(scope, source): 0 for scope in SCOPES for source in SOURCES}
        for s in active:
            counts[(s.scope, "brake" if s.source.startswith("brake:") else "manual")] += 1
        for (scope, source), count in counts.items():
            self.suspensions_active.labels(scope, source).set(count)
