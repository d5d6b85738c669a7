"""How the gateway declares a metric: on its own registry (one per gateway instance, so
several gateways in one process never share a series), with the series of label values
known in advance made at once, so rates and alerts see 0 rather than "no data".

Imports nothing of the gateway, so every module that reports metrics can use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TypeVar

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

M = TypeVar("M", bound=MetricWrapperBase)


class MetricDeclarer:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def counter(
        self, name: str, documentation: str, labels: Sequence[str] = (), *, known: Iterable[str] = ()
    ) -> Counter:
        """`known`: values of the (single) label whose series exist from the start."""
        return _with(Counter(name, documentation, labels, registry=self.registry), known)

    def gauge(self, name: str, documentation: str, labels: Sequence[str] = ()) -> Gauge:
        return Gauge(name, documentation, labels, registry=self.registry)

    def histogram(
        self,
        name: str,
        documentation: str,
        labels: Sequence[str] = (),
        *,
        buckets: Sequence[float],
        known: Iterable[str] = (),
    ) -> Histogram:
        return _with(Histogram(name, documentation, labels, buckets=buckets, registry=self.registry), known)


def _with(metric: M, known: Iterable[str]) -> M:
    for value in known:
        metric.labels(value)
    return metric
