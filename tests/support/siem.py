"""SIEM stand-ins for the audit streaming tests: a real rsyslog (Debian package) with its
own config on an ephemeral port writing to a file, a Splunk HEC-compatible receiver with
indexer acknowledgement, an OTLP/HTTP logs receiver, and a TLS certificate authority."""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import json
import os
import shutil
import signal
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from prometheus_client import CollectorRegistry, generate_latest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.audit import AuditLog
from gateway.audit.streaming import AuditStreams
from gateway.audit.streaming.metrics import SinkMetrics
from gateway.config import AuditSettings
from gateway.integrations.sink_settings import StreamingSettings
from tests.support.gateway import require_service

#: The fields rsyslog parsed out of each RFC 5424 message, one line each.
RSYSLOG_TEMPLATE = "%syslogfacility%|%syslogseverity%|%hostname%|%app-name%|%msgid%|%structured-data%|%msg%\\n"


@dataclass(frozen=True)
class Tls:
    ca: Path
    cert: Path
    key: Path


def make_tls(directory: Path) -> Tls:
    """A CA and a server certificate for `localhost` / 127.0.0.1, signed by it."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test SIEM CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Tls(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return paths


class Rsyslog:
    """rsyslogd in the foreground with a private config, work directory and pid file; its
    TCP input (octet-counted framing) writes each message's parsed fields to `output`."""

    def __init__(self, directory: Path, tls: Tls | None = None) -> None:
        self.binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
        require_service("rsyslogd (Debian package rsyslog)", os.path.exists(self.binary))
        self.directory = directory
        self.output = directory / "received.log"
        self.port = 0
        self._tls = tls
        self._process: asyncio.subprocess.Process | None = None
        directory.mkdir(parents=True, exist_ok=True)

    def _config(self) -> str:
        d = self.directory
        driver = ""
        tls_globals = ""
        if self._tls is not None:
            tls_globals = (
                f' DefaultNetstreamDriverCAFile="{self._tls.ca}" DefaultNetstreamDriverCertFile="{self._tls.cert}"'
                f' DefaultNetstreamDriverKeyFile="{self._tls.key}"'
            )
            driver = ' StreamDriver.Name="ossl" StreamDriver.Mode="1" StreamDriver.AuthMode="anon"'
        return "\n".join(
            [
                f'global(workDirectory="{d}"{tls_globals})',
                f'module(load="imtcp"{driver})',
                f'template(name="fields" type="string" string="{RSYSLOG_TEMPLATE}")',
                # Direct: the input thread writes each message before it reads the next bytes,
                # so a closed connection means its messages are in the file.
                'ruleset(name="gateway" queue.type="Direct") {',
                f'  action(type="omfile" file="{self.output}" template="fields")',
                "}",
                f'input(type="imtcp" port="{self.port}" listenPortFileName="{d}/port" ruleset="gateway")',
            ]
        )

    async def start(self) -> None:
        """Start (again, on the same port after the first start)."""
        port_file = self.directory / "port"
        port_file.unlink(missing_ok=True)
        config = self.directory / "rsyslog.conf"
        config.write_text(self._config() + "\n")
        self._process = await asyncio.create_subprocess_exec(
            self.binary, "-n", "-f", str(config), "-i", str(self.directory / "rsyslogd.pid"),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        async with asyncio.timeout(15):
            # rsyslog writes the port file only for port 0; a restart on its port is ready
            # when that port accepts.
            while not (await self._listening() if self.port else port_file.exists() and port_file.read_text().strip()):
                if self._process.returncode is not None:
                    error = await self._process.stderr.read() if self._process.stderr else b""
                    raise RuntimeError(f"rsyslogd exited: {error.decode(errors='replace')}")
                await asyncio.sleep(0.05)
        if not self.port:
            self.port = int(port_file.read_text().strip())

    async def _listening(self) -> bool:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", self.port)
        except OSError:
            return False
        writer.close()
        return True

    async def stop(self, sig: int = signal.SIGTERM) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.send_signal(sig)
            await self._process.wait()
        self._process = None

    def lines(self) -> list[list[str]]:
        if not self.output.exists():
            return []
        return [line.split("|", 6) for line in self.output.read_text().splitlines()]


@asynccontextmanager
async def rsyslog(directory: Path, tls: Tls | None = None) -> AsyncIterator[Rsyslog]:
    server = Rsyslog(directory, tls)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@dataclass
class HecReceiver:
    """Splunk HEC as far as the gateway uses it: token auth, concatenated JSON events,
    ackIds per channel, /services/collector/ack. `down` answers 503; `hold_acks` keeps
    acknowledgements pending."""

    token: str = "hec-token-0000"
    events: list[dict[str, Any]] = field(default_factory=list)
    batches: list[list[int]] = field(default_factory=list)
    down: bool = False
    hold_acks: bool = False
    ack_polls: int = 0
    _acks: dict[str, dict[int, bool]] = field(default_factory=dict)

    def seqs(self) -> list[int]:
        return [e["event"]["seq"] for e in self.events]

    async def event(self, request: Request) -> JSONResponse:
        if self.down:
            return JSONResponse({"text": "Server is busy", "code": 9}, status_code=503)
        if request.headers.get("authorization") != f"Splunk {self.token}":
            return JSONResponse({"text": "Invalid token", "code": 4}, status_code=403)
        channel = request.headers.get("x-splunk-request-channel")
        if not channel:
            return JSONResponse({"text": "Data channel is missing", "code": 10}, status_code=400)
        decoder = json.JSONDecoder()
        text, position, batch = (await request.body()).decode(), 0, []
        while position < len(text):
            event, position = decoder.raw_decode(text, position)
            while position < len(text) and text[position].isspace():
                position += 1
            batch.append(event)
        self.events.extend(batch)
        self.batches.append([e["event"]["seq"] for e in batch])
        acks = self._acks.setdefault(channel, {})
        ack_id = len(acks)
        acks[ack_id] = not self.hold_acks
        return JSONResponse({"text": "Success", "code": 0, "ackId": ack_id})

    async def ack(self, request: Request) -> JSONResponse:
        self.ack_polls += 1
        if self.down:
            return JSONResponse({"text": "Server is busy", "code": 9}, status_code=503)
        channel = request.headers.get("x-splunk-request-channel", "")
        wanted = (await request.json())["acks"]
        acks = self._acks.get(channel, {})
        return JSONResponse({"acks": {str(i): acks.get(i, False) and not self.hold_acks for i in wanted}})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/services/collector/event", self.event, methods=["POST"]),
                Route("/services/collector/ack", self.ack, methods=["POST"]),
            ]
        )


@dataclass
class OtlpLogsReceiver:
    """An OTLP/HTTP logs endpoint: keeps every log record's body, attributes and resource."""

    records: list[dict[str, Any]] = field(default_factory=list)

    async def logs(self, request: Request) -> Response:
        export = ExportLogsServiceRequest.FromString(await request.body())
        for resource in export.resource_logs:
            service = {a.key: a.value.string_value for a in resource.resource.attributes}.get("service.name")
            for scope in resource.scope_logs:
                for record in scope.log_records:
                    attributes = {
                        a.key: a.value.int_value if a.value.HasField("int_value") else a.value.string_value
                        for a in record.attributes
                    }
                    self.records.append(
                        {
                            "service": service,
                            "scope": scope.scope.name,
                            "time_unix_nano": record.time_unix_nano,
                            "severity": record.severity_text,
                            "event_name": record.event_name,
                            "body": json.loads(record.body.string_value),
                            "attributes": attributes,
                        }
                    )
        return Response(ExportLogsServiceResponse().SerializeToString(), media_type="application/x-protobuf")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/logs", self.logs, methods=["POST"])])


@dataclass
class Streaming:
    audit: AuditLog
    streams: AuditStreams
    registry: CollectorRegistry

    def __iter__(self) -> Any:
        return iter((self.audit, self.streams))

    def exposition(self) -> str:
        return generate_latest(self.registry).decode()


@asynccontextmanager
async def streaming(tmp_path: Path, sink: dict[str, Any], database: str | None = None) -> AsyncIterator[Streaming]:
    """A real audit log (SQLite in tmp_path, or `database`) shipping to one sink, polling fast."""
    audit = await AuditLog.open(AuditSettings(database=database or str(tmp_path / "audit.db")))
    settings = StreamingSettings.model_validate(
        {"sinks": [sink], "poll_seconds": 0.02, "max_backoff_seconds": 0.2, "state_directory": str(tmp_path / "state")}
    )
    registry = CollectorRegistry()
    metrics = SinkMetrics()
    registry.register(metrics)
    streams = AuditStreams.start(settings, audit, metrics, Path)
    try:
        yield Streaming(audit, streams, registry)
    finally:
        await streams.close()
        await audit.close()


async def append_calls(audit: AuditLog, count: int, start: int = 0) -> None:
    for i in range(start, start + count):
        await audit.append(
            "call.received",
            {"principal": {"subject": "agent-1"}, "connector": "sap", "tool": "pay", "n": i},
            call_id=f"c{i}",
        )


async def steady_calls(audit: AuditLog, count: int) -> None:
    """Records keep coming while the sink goes down and comes back."""
    for i in range(count):
        await append_calls(audit, 1, start=i)
        await asyncio.sleep(0.005)
