"""Live audit streams to SIEMs: syslog (RFC 5424 over TCP or TLS), Splunk HEC and
OpenTelemetry logs, each with its own persisted cursor and lag metrics."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from gateway.audit.log import AuditLog
from gateway.audit.streaming.cursor import CursorFile
from gateway.audit.streaming.hec_sink import HecShipper
from gateway.audit.streaming.metrics import SinkMetrics
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
        metrics: SinkMetrics,
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
        metrics.watch(shippers)
        for shipper in shippers:
            shipper.start()
        return streams

    async def close(self) -> None:
        for shipper in self.shippers:
            await shipper.close()
