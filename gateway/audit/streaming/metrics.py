"""Metrics of the audit sinks, read at scrape time so the lag of a sink stuck in a
delivery still grows. Registered by every gateway (no series until sinks are configured),
so the alert rules can be checked against the names it exposes."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Protocol

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric


class ShipperState(Protocol):
    name: str
    shipped: int
    failures: int
    up: bool

    def lag(self) -> tuple[int, float]: ...


class SinkMetrics:
    def __init__(self) -> None:
        self._shippers: list[ShipperState] = []

    def watch(self, shippers: Iterable[ShipperState]) -> None:
        self._shippers = list(shippers)

    def describe(self) -> list[Metric]:
        return list(_families())

    def collect(self) -> Iterator[Metric]:
        families = _families()
        lag_records, lag_seconds, shipped, failures, up = families
        for shipper in self._shippers:
            records, seconds = shipper.lag()
            lag_records.add_metric([shipper.name], records)
            lag_seconds.add_metric([shipper.name], seconds)
            shipped.add_metric([shipper.name], shipper.shipped)
            failures.add_metric([shipper.name], shipper.failures)
            up.add_metric([shipper.name], 1 if shipper.up else 0)
        yield from families


def _families() -> tuple[
    GaugeMetricFamily, GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily, GaugeMetricFamily
]:
    labels = ["sink"]
    return (
        GaugeMetricFamily(
            "gateway_audit_sink_lag_records", "Audit records the sink has not acknowledged yet.", labels=labels
        ),
        GaugeMetricFamily(
            "gateway_audit_sink_lag_seconds",
            "Age of the oldest audit record the sink has not acknowledged (0 when caught up).",
            labels=labels,
        ),
        CounterMetricFamily(
            "gateway_audit_sink_shipped_records", "Audit records the sink acknowledged.", labels=labels
        ),
        CounterMetricFamily(
            "gateway_audit_sink_failures", "Deliveries to the sink that failed and will be retried.", labels=labels
        ),
        GaugeMetricFamily("gateway_audit_sink_up", "1 when the last delivery to the sink succeeded.", labels=labels),
    )
