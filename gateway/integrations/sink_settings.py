"""The `audit_streaming` section: SIEM sinks the audit log is shipped to, in chain order."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from gateway.config.secrets import Secret

SinkName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Sink(_Section):
    name: SinkName = Field(description="Names the sink in metrics and its cursor file.")
    batch_size: int = Field(default=200, ge=1, le=10_000, description="Records per delivery at most.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Deadline of one delivery.")


class SyslogSink(_Sink):
    kind: Literal["syslog"] = Field(description="RFC 5424 over TCP, octet-counting framing (RFC 6587).")
    host: str = Field(min_length=1, description="Collector host.")
    port: int = Field(ge=1, le=65535, description="Collector TCP port.")
    tls: bool = Field(default=False, description="TLS (RFC 5425); the collector's certificate is verified.")
    ca_file: str | None = Field(default=None, description="CA bundle for the collector's certificate.")
    server_name: str | None = Field(default=None, description="Name the certificate must carry (default: host).")
    format: Literal["json", "cef"] = Field(default="json", description="MSG part: the record as JSON, or CEF.")
    facility: int = Field(default=13, ge=0, le=23, description="Syslog facility (13: log audit).")
    app_name: str = Field(default="agent-gateway", pattern=r"^[!-~]{1,48}$", description="APP-NAME field.")
    hostname: str | None = Field(default=None, description="HOSTNAME field (default: this host's name).")


class SplunkHecSink(_Sink):
    kind: Literal["splunk_hec"] = Field(description="Splunk HTTP Event Collector, JSON events.")
    url: str = Field(pattern=r"^https?://[^\s/]+", description="HEC base URL (https://splunk:8088).")
    token: Secret = Field(description="HEC token.")
    index: str | None = Field(default=None, description="Index the events go to (default: the token's).")
    source: str = Field(default="agent-gateway", description="The events' source.")
    sourcetype: str = Field(default="agent-gateway:audit", description="The events' sourcetype.")
    acknowledgement: bool = Field(default=False, description="Wait for indexer acknowledgement (the token's useACK).")
    ack_timeout_seconds: float = Field(default=60.0, gt=0, description="Longest wait for an acknowledgement.")
    ca_file: str | None = Field(default=None, description="CA bundle for an https URL.")


class OtlpLogsSink(_Sink):
    kind: Literal["otlp"] = Field(description="OpenTelemetry logs over OTLP/HTTP (protobuf).")
    endpoint: str = Field(pattern=r"^https?://[^\s/]+", description="Collector base URL; logs go to /v1/logs.")
    headers: Mapping[str, Secret] = Field(
        default_factory=dict, description="Extra headers, e.g. an API key (values are secrets: use references)."
    )
    service_name: str = Field(default="agent-gateway", description="The resource's service.name.")


Sink = Annotated[SyslogSink | SplunkHecSink | OtlpLogsSink, Field(discriminator="kind")]


class StreamingSettings(_Section):
    sinks: tuple[Sink, ...] = Field(default=(), description="Where the audit log is shipped.")
    state_directory: str = Field(
        default="var/audit-sinks", description="Where each sink's cursor (last acknowledged record) is kept."
    )
    poll_seconds: float = Field(default=0.2, gt=0, le=10, description="How often an idle sink looks for new records.")
    max_backoff_seconds: float = Field(default=30.0, gt=0, description="Longest wait between retries of a down sink.")

    @model_validator(mode="after")
    def _unique(self) -> StreamingSettings:
        names = [s.name for s in self.sinks]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"sink names must be unique: {', '.join(duplicates)}")
        return self
