"""Live audit streams to SIEMs: syslog (RFC 5424 over TCP or TLS), Splunk HEC and
OpenTelemetry logs, each with its own persisted cursor and lag metrics."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from gateway.audit.log import AuditLog
from gateway.audit.streaming.cursor import CursorFile
from gateway.audit.streaming.hec_sink import HecShipper
from gateway.audit.streaming.otlp_sink import OtlpShipper
from gateway.audit.streaming.shipper import Shipper
from gateway.audit.streaming.sink import Sink
from gateway.audit.streaming.syslog_sink import SyslogShipper
from gateway.integrations.sink_settings import OtlpLogsSink, SplunkHecSink, StreamingSettings, SyslogSink


def _sink(settings: SyslogSink | SplunkHecSink | OtlpLogsSink) -> Sink:
    if isinstance(settings, SyslogSink):
        return SyslogShipper(settings)
    if isinstance(settings, SplunkHecSink):
        return HecShipper(settings)
    return OtlpShipper(settings)


def _deadline(settings: SyslogSink | SplunkHecSink | OtlpLogsSink) -> float:
    """How long one delivery may take: with HEC acknowledgement, the wait for it too."""
    if isinstance(settings, SplunkHecSink) and settings.acknowledgement:
        return settings.timeout_seconds + settings.ack_timeout_seconds
    return settings.timeout_seconds


class AuditStreams:
    def __init__(self, shippers: list[Shipper]) -> None:
        self.shippers = shippers

    @classmethod
    def start(
        cls,
        settings: StreamingSettings,
        audit: AuditLog,
        registry: CollectorRegistry,
        resolve: Callable[[str], Path],
    ) -> AuditStreams:
        state = resolve(settings.state_directory)
        shippers = [
            Shipper(
                s.name,
                _sink(s),
                audit,
                CursorFile(state / f"{s.name}.cursor"),
                batch_size=s.batch_size,
                timeout_seconds=_deadline(s),
                poll_seconds=settings.poll_seconds,
                max_backoff_seconds=settings.max_backoff_seconds,
            )
            for s in settings.sinks
        ]
        streams = cls(shippers)
        if shippers:
            registry.register(_SinkCollector(streams))
        for shipper in shippers:
            shipper.start()
        return streams

    async def close(self) -> None:
        for shipper in self.shippers:
            await shipper.close()


class _SinkCollector:
    """Read at scrape time, so the lag of a sink stuck in a delivery still grows."""

    def __init__(self, streams: AuditStreams) -> None:
        self._streams = streams

    def describe(self) -> list[Metric]:
        return list(self._families())

    def collect(self) -> Iterator[Metric]:
        families = self._families()
        lag_records, lag_seconds, shipped, failures, up = families
        for shipper in self._streams.shippers:
            records, seconds = shipper.lag()
            lag_records.add_metric([shipper.name], records)
            lag_seconds.add_metric([shipper.name], seconds)
            shipped.add_metric([shipper.name], shipper.shipped)
            failures.add_metric([shipper.name], shipper.failures)
            up.add_metric([shipper.name], 1 if shipper.up else 0)
        yield from families

    @staticmethod
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
            GaugeMetricFamily(
                "gateway_audit_sink_up", "1 when the last delivery to the sink succeeded.", labels=labels
            ),
        )
