"""Metrics of incident response: the kill switch, the automatic brakes and the shadow
policy. Part of the gateway's registry (`Metrics.incident`); imports nothing of the gateway."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

SCOPES = ("subject", "client", "tenant", "all")
SOURCES = ("manual", "brake")


class _Suspension(Protocol):
    @property
    def scope(self) -> str: ...

    @property
    def source(self) -> str: ...


class IncidentMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.suspensions_active = Gauge(
            "gateway_suspensions_active",
            "Suspensions in force, by scope (subject, client, tenant, all) and source (manual, brake); every "
            "replica reports the shared store's set.",
            ["scope", "source"],
            registry=registry,
        )
        self.suspended_refused = Counter(
            "gateway_suspended_calls_refused",
            "Calls refused because their agent, client or tenant is suspended, by the suspension's scope.",
            ["scope"],
            registry=registry,
        )
        self.suspended_cancelled = Counter(
            "gateway_suspended_calls_cancelled",
            "In-flight upstream requests cancelled because their agent was suspended.",
            registry=registry,
        )
        self.brake_trips = Counter(
            "gateway_brake_trips", "Agents suspended by an automatic brake, by brake.", ["brake"], registry=registry
        )
        self.shadow_decisions = Counter(
            "gateway_shadow_decisions", "Live calls also decided under the shadow policy.", registry=registry
        )
        self.shadow_changed = Counter(
            "gateway_shadow_decisions_changed",
            "Live calls the shadow (candidate) policy decides differently, by the candidate's rule and the change "
            "(active effect -> candidate effect).",
            ["rule", "change"],
            registry=registry,
        )
        for scope in SCOPES:
            self.suspended_refused.labels(scope)
        self.set_active(())

    def set_active(self, active: Iterable[_Suspension]) -> None:
        counts = {(scope, source): 0 for scope in SCOPES for source in SOURCES}
        for s in active:
            counts[(s.scope, "brake" if s.source.startswith("brake:") else "manual")] += 1
        for (scope, source), count in counts.items():
            self.suspensions_active.labels(scope, source).set(count)
