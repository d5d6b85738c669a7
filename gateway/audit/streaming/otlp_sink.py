"""OpenTelemetry logs over OTLP/HTTP: a batch is one ExportLogsServiceRequest (protobuf)
POSTed to <endpoint>/v1/logs. The record is the log body (its JSON event); the chain
position and the call are attributes a collector can route on."""

from __future__ import annotations

import json
from collections.abc import Sequence

import httpx
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource

from gateway import __version__
from gateway.audit.streaming.formats import record_json, syslog_severity
from gateway.audit.streaming.sink import SinkError
from gateway.config.secrets import revealed
from gateway.integrations.sink_settings import OtlpLogsSink
from gateway.models import AuditRecord

#: syslog severity (0-7) to OpenTelemetry severity number (1-24).
_SEVERITY_NUMBER = {4: 13, 5: 10, 6: 9}
_SEVERITY_TEXT = {4: "WARN", 5: "INFO", 6: "INFO"}


def _attribute(key: str, value: str | int) -> KeyValue:
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def log_record(record: AuditRecord) -> LogRecord:
    severity = syslog_severity(record)
    attributes = [
        _attribute("gateway.audit.seq", record.seq),
        _attribute("gateway.audit.kind", record.kind),
        _attribute("gateway.audit.hash", record.hash),
        _attribute("gateway.audit.prev_hash", record.prev_hash),
    ]
    if record.call_id:
        attributes.append(_attribute("gateway.call_id", record.call_id))
    return LogRecord(
        time_unix_nano=int(record.ts * 1e9),
        severity_number=_SEVERITY_NUMBER.get(severity, 9),  # type: ignore[arg-type]
        severity_text=_SEVERITY_TEXT.get(severity, "INFO"),
        body=AnyValue(string_value=json.dumps(record_json(record), separators=(",", ":"), ensure_ascii=False)),
        attributes=attributes,
        event_name=record.kind,
    )


class OtlpShipper:
    def __init__(self, settings: OtlpLogsSink) -> None:
        self._url = settings.endpoint.rstrip("/") + "/v1/logs"
        self._resource = Resource(attributes=[_attribute("service.name", settings.service_name)])
        self._scope = InstrumentationScope(name="agent-gateway.audit", version=__version__)
        self._client = httpx.AsyncClient(
            headers={**revealed(settings.headers), "Content-Type": "application/x-protobuf"},
            timeout=settings.timeout_seconds,
            follow_redirects=False,
        )

    async def ship(self, records: Sequence[AuditRecord]) -> None:
        request = ExportLogsServiceRequest(
            resource_logs=[
                ResourceLogs(
                    resource=self._resource,
                    scope_logs=[ScopeLogs(scope=self._scope, log_records=[log_record(r) for r in records])],
                )
            ]
        )
        try:
            response = await self._client.post(self._url, content=request.SerializeToString())
        except httpx.HTTPError as exc:
            raise SinkError(f"OTLP {self._url}: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise SinkError(f"OTLP {self._url}: HTTP {response.status_code}")
        answer = ExportLogsServiceResponse()
        try:
            answer.ParseFromString(response.content)
        except Exception:  # a collector may answer with an empty or JSON body; 2xx is success
            return
        if answer.partial_success.rejected_log_records:
            raise SinkError(
                f"OTLP collector rejected {answer.partial_success.rejected_log_records} log record(s):"
                f" {answer.partial_success.error_message}"
            )

    async def close(self) -> None:
        await self._client.aclose()
