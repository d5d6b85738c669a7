"""Prometheus view of the identity providers' keys, read at scrape time from the caches."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from gateway.identity.issuers import IssuerRegistry


class IssuerCollector:
    def __init__(self, issuers: IssuerRegistry) -> None:
        self._issuers = issuers

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        ready, fetches, failures = self._families()
        for cache in self._issuers.remote:
            ready.add_metric([cache.issuer], 1.0 if cache.ready else 0.0)
            fetches.add_metric([cache.issuer], float(cache.fetches))
            failures.add_metric([cache.issuer], float(cache.failures))
        yield from (ready, fetches, failures)

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, CounterMetricFamily, CounterMetricFamily]:
        return (
            GaugeMetricFamily(
                "gateway_identity_keys_ready",
                "1 while the issuer's signing keys are held and within their cache lifetime, else 0.",
                labels=["issuer"],
            ),
            CounterMetricFamily(
                "gateway_identity_jwks_fetches", "Discovery and JWKS requests made, by issuer.", labels=["issuer"]
            ),
            CounterMetricFamily(
                "gateway_identity_jwks_fetch_failures", "Discovery and JWKS requests that failed.", labels=["issuer"]
            ),
        )
