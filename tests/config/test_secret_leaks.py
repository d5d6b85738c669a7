"""A full run of `gateway serve` with every kind of secret referenced from the environment
or a file, then a grep of everything it produced for the secret values: the process's own
output (debug logs), every HTTP answer (MCP, REST, /readyz, /metrics, errors), the audit
database, the CLI's audit export and `config check`. Every approval channel and audit sink
is configured and used, so their secrets (Slack, Teams, webhook, SMTP, HEC, OTLP) are too."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import ssl
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
import redis.asyncio as aioredis
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from mcp import MCPError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.sap import stub as sap_stub
from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier
from gateway.mcp.client import connect
from gateway.serving import free_port, running
from tests.support.gateway import require_service
from tests.support.siem import HecReceiver, OtlpLogsReceiver, make_tls
from tests.support.slack import BOT_TOKEN, SIGNING_SECRET, FakeSlack, fake_slack
from tests.support.stores import REDIS, postgres_reachable, redis_reachable

IDENTITY_SECRET = "leak-identity-secret-5f1c0a9e-7d3b-4e2a"
SAP_PASSWORD = "leak-sap-password-8c2e"
PG_PASSWORD = "leak-pg-password-3a7d"
UPSTREAM_TOKEN = "leak-upstream-token-91b4"
METRICS_TOKEN = "leak-metrics-token-2d6f"
#: Paths and tokens of the approval channels and audit sinks.
TEAMS_PATH = "/workflows/leak-teams-signature-7e0a"
WEBHOOK_PATH = "/services/T0/B0/leak-webhook-path-c3f8"
WEBHOOK_HEADER = "leak-webhook-header-5b9e"
SMTP_PASSWORD = "leak-smtp-password-0d4c"
HEC_TOKEN = "leak-hec-token-6a1f"
OTLP_KEY = "leak-otlp-key-8e3b"
REDIS_PASSWORD = "leak-redis-password-4f2a"
SECRETS = (
    IDENTITY_SECRET, SAP_PASSWORD, PG_PASSWORD, UPSTREAM_TOKEN, METRICS_TOKEN, TEAMS_PATH, WEBHOOK_PATH,
    WEBHOOK_HEADER, SMTP_PASSWORD, HEC_TOKEN, OTLP_KEY, BOT_TOKEN, SIGNING_SECRET, REDIS_PASSWORD,
)  # fmt: skip
ENVIRON = {
    "LEAK_IDENTITY_SECRET": IDENTITY_SECRET,
    "LEAK_SAP_PASSWORD": SAP_PASSWORD,
    "LEAK_METRICS_TOKEN": METRICS_TOKEN,
    "LEAK_SLACK_SIGNING": SIGNING_SECRET,
    "LEAK_SMTP_PASSWORD": SMTP_PASSWORD,
    "LEAK_HEC_TOKEN": HEC_TOKEN,
    # Redis without requirepass accepts any password: the URL is used, its password checked by nobody.
    "LEAK_REDIS_URL": f"redis://:{REDIS_PASSWORD}@127.0.0.1:6379/0",
}
SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
#: The token's subject, and so the name of its rate-limit bucket in Redis.
AGENT = f"leak-bot-{uuid.uuid4().hex[:8]}"
SCHEMA = f"leak_{uuid.uuid4().hex[:8]}"

CONFIG = """\
server: {{host: 127.0.0.1, port: {port}, metrics_token: "${{env:LEAK_METRICS_TOKEN}}"}}
identity: {{secret: "${{env:LEAK_IDENTITY_SECRET}}"}}
policy: {{directory: {policies}, watch: false}}
audit: {{database: audit.db}}
approvals:
  database: "${{file:secrets/approvals-db}}"
  max_hold_seconds: 0.2
  approver_roles: [approver, finance-approver, hr-approver, supervisor, support-supervisor]
  webhooks:
    - url: "${{file:secrets/webhook-url}}"
      headers: {{X-Token: "${{file:secrets/webhook-header}}"}}
limits:
  redis_url: "${{env:LEAK_REDIS_URL}}"
  rules: [{{per: agent, rate_per_second: 0.01, burst: 100, tools: "sap.*", agents: "{agent}"}}]
integrations:
  slack: {{signing_secret: "${{env:LEAK_SLACK_SIGNING}}", bot_token: "${{file:secrets/slack-bot}}", channel: C1,
          api_url: {slack}}}
  teams: {{webhook_url: "${{file:secrets/teams-url}}"}}
  email: {{host: 127.0.0.1, port: {smtp}, ca_file: {smtp_ca}, username: gateway,
          password: "${{env:LEAK_SMTP_PASSWORD}}", sender: gw@example.com, recipients: [approvers@example.com]}}
audit_streaming:
  poll_seconds: 0.05
  sinks:
    - {{kind: splunk_hec, name: hec, url: {hec}, token: "${{env:LEAK_HEC_TOKEN}}"}}
    - {{kind: otlp, name: otel, endpoint: {otlp}, headers: {{X-Api-Key: "${{file:secrets/otlp-key}}"}}}}
connectors:
  sap:
    kind: sap
    url: {sap}
    auth:
      kind: basic
      username: gateway
      password: "${{env:LEAK_SAP_PASSWORD}}"
  echo:
    kind: mcp
    url: {echo}
    headers: {{Authorization: "${{file:secrets/upstream-token}}"}}
"""


@dataclass
class Receivers:
    """Everything the gateway tells: the approval channels and the audit sinks, each
    checking the credential it was configured with."""

    slack: FakeSlack
    hec: HecReceiver = field(default_factory=lambda: HecReceiver(token=HEC_TOKEN))
    otlp: OtlpLogsReceiver = field(default_factory=OtlpLogsReceiver)
    #: (path, X-Token header) of each POST to the Teams workflow or the webhook.
    posts: list[tuple[str, str | None]] = field(default_factory=list)
    mails: list[Envelope] = field(default_factory=list)
    urls: dict[str, str] = field(default_factory=dict)

    async def post(self, request: Request) -> JSONResponse:
        self.posts.append((request.url.path, request.headers.get("x-token")))
        return JSONResponse({}, status_code=202)

    def otlp_app(self) -> Starlette:
        async def logs(request: Request) -> Any:
            if request.headers.get("x-api-key") != OTLP_KEY:
                return JSONResponse({}, status_code=401)
            return await self.otlp.logs(request)

        return Starlette(routes=[Route("/v1/logs", logs, methods=["POST"])])

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        return AuthResult(success=data.login == b"gateway" and data.password == SMTP_PASSWORD.encode())

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.mails.append(envelope)
        return "250 Message accepted"

    def silent(self) -> list[str]:
        """The channels that have not delivered the approval request, the sinks without records."""
        paths = [path for path, _ in self.posts]
        told = {
            "slack": bool(self.slack.bodies("chat.postMessage")),
            "teams": TEAMS_PATH in paths,
            "webhook": WEBHOOK_PATH in paths,
            "email": bool(self.mails),
            "hec": bool(self.hec.events),
            "otlp": bool(self.otlp.records),
        }
        return [name for name, done in told.items() if not done]


@pytest.fixture
async def backends(
    tmp_path: Path, echo_upstream: tuple[str, Starlette]
) -> AsyncIterator[tuple[dict[str, str], Receivers]]:
    require_service("PostgreSQL", await postgres_reachable())
    require_service("Redis", await redis_reachable())
    async with AsyncExitStack() as stack:
        receivers = Receivers(await stack.enter_async_context(fake_slack()))
        hooks = Starlette(routes=[Route("/{path:path}", receivers.post, methods=["POST"])])
        tls = make_tls(tmp_path / "smtp-pki")
        server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        server_tls.load_cert_chain(tls.cert, tls.key)
        controller = Controller(
            receivers, hostname="127.0.0.1", port=free_port(), tls_context=server_tls, require_starttls=True,
            authenticator=receivers.authenticate, auth_required=True,
        )  # fmt: skip
        controller.start()
        stack.callback(controller.stop)
        urls = {
            "sap": await stack.enter_async_context(
                running(sap_stub.create_app(username="gateway", password=SAP_PASSWORD))
            )
            + SERVICE,
            "echo": echo_upstream[0],
            "hooks": await stack.enter_async_context(running(hooks)),
            "slack": receivers.slack.api_url,
            "smtp": str(controller.port),
            "smtp_ca": str(tls.ca),
            "hec": await stack.enter_async_context(running(receivers.hec.app())),
            "otlp": await stack.enter_async_context(running(receivers.otlp_app())),
        }
        yield urls, receivers
    conn = await asyncpg.connect("postgresql://127.0.0.1:5432/test")
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await conn.close()


def _write_config(directory: Path, port: int, urls: dict[str, str], policies: Path) -> Path:
    secrets = directory / "secrets"
    secrets.mkdir()
    user = os.environ.get("USER") or "root"
    for name, value in {
        "approvals-db": f"postgresql://{user}:{PG_PASSWORD}@127.0.0.1:5432/test?schema={SCHEMA}",
        "upstream-token": f"Bearer {UPSTREAM_TOKEN}",
        "webhook-url": urls["hooks"] + WEBHOOK_PATH,
        "webhook-header": WEBHOOK_HEADER,
        "slack-bot": BOT_TOKEN,
        "teams-url": urls["hooks"] + TEAMS_PATH,
        "otlp-key": OTLP_KEY,
    }.items():
        (secrets / name).write_text(value + "\n")
    config = directory / "gateway.yaml"
    config.write_text(CONFIG.format(port=port, policies=policies, agent=AGENT, **urls))
    return config


async def _wait_healthy(base: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    async with httpx.AsyncClient() as client:
        while time.monotonic() < deadline:
            assert process.poll() is None, "the gateway exited during start-up (see gateway.log)"
            try:
                if (await client.get(f"{base}/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
    raise AssertionError("the gateway did not become healthy")


async def _drive(base: str, token: str) -> list[str]:
    """Calls that succeed, fail and are refused, and every operator endpoint; the answers."""
    seen: list[str] = []
    async with connect(f"{base}/mcp", token) as client:
        for name, arguments in (
            ("sap.search_vendors", {"country": "DE"}),
            (
                "sap.create_purchase_order",
                {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "leak"},
            ),
            (
                "sap.create_purchase_order",
                {"vendor_id": "0000100001", "amount": 20000, "currency": "EUR", "description": "leak"},
            ),
            ("sap.get_purchase_order", {"purchase_order": "9999999999"}),
            ("echo.echo", {"text": "hello"}),
            ("echo.nope", {}),
        ):
            try:
                seen.append(repr(await client.call_tool(name, arguments)))
            except MCPError as exc:  # a protocol-level refusal (unknown tool)
                seen.append(repr(exc))
    async with httpx.AsyncClient(base_url=base) as http:
        bearer = {"Authorization": f"Bearer {token}"}
        for method, path, headers in (
            ("GET", "/readyz", {}),
            ("GET", "/readyz", bearer),
            ("GET", "/metrics", {}),
            ("GET", "/metrics", {"Authorization": f"Bearer {METRICS_TOKEN}"}),
            ("GET", "/v1/tools", bearer),
            ("GET", "/v1/tools", {"Authorization": "Bearer not-a-token"}),
            ("GET", "/v1/approvals", bearer),
            ("GET", "/openapi.json", bearer),
            ("POST", "/v1/admin/policy/reload", bearer),
        ):
            response = await http.request(method, path, headers=headers)
            seen.append(f"{response.status_code} {response.headers} {response.text}")
    return seen


async def _redis_buckets() -> list[bytes]:
    """The run's rate-limit buckets in Redis (then deleted): the Redis URL was used."""
    client = aioredis.from_url(REDIS)
    try:
        keys: list[bytes] = await client.keys(f"gateway:ratelimit:*{AGENT}*")
        if keys:
            await client.delete(*keys)
        return keys
    finally:
        await client.aclose()


async def _told(receivers: Receivers) -> None:
    deadline = time.monotonic() + 20
    while receivers.silent() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert not receivers.silent(), f"nothing reached {receivers.silent()} (see gateway.log)"


async def test_no_output_of_a_full_run_carries_a_secret(
    tmp_path: Path, policy_dir: Path, backends: tuple[dict[str, str], Receivers]
) -> None:
    urls, receivers = backends
    port = free_port()
    config = _write_config(tmp_path, port, urls, policy_dir)
    environ = {**os.environ, **ENVIRON}
    gateway_cli = [sys.executable, "-m", "gateway.cli"]
    log = tmp_path / "gateway.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*gateway_cli, "-v", "serve", "--config", str(config)], stdout=sink, stderr=subprocess.STDOUT,
            env=environ, cwd=tmp_path,
        )  # fmt: skip
        try:
            base = f"http://127.0.0.1:{port}"
            await _wait_healthy(base, process)
            token = TokenVerifier(IdentitySettings(secret=IDENTITY_SECRET), tmp_path).mint(
                AGENT, ("procurement-agent", "agent-readonly", "tester", "gateway-admin", "approver")
            )
            answers = await _drive(base, token)
            await _told(receivers)
            buckets = await _redis_buckets()
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    outputs = {"gateway output": log.read_bytes(), "HTTP answers": "\n".join(answers).encode()}
    for name in ("audit.db", "audit.db-wal"):
        if (tmp_path / name).exists():
            outputs[name] = (tmp_path / name).read_bytes()
    for command in (["audit", "export", "--config", str(config)], ["config", "check", str(config)]):
        done = subprocess.run([*gateway_cli, *command], capture_output=True, env=environ, cwd=tmp_path, timeout=60)
        outputs[" ".join(command[:2])] = done.stdout + done.stderr
    assert b"call.forwarded" in outputs["audit export"] and b"OK" in outputs["config check"]
    assert b"sap.search_vendors" in outputs["HTTP answers"]
    # Every secret reached the one it is for: the references resolved and were used.
    assert (TEAMS_PATH, None) in receivers.posts and (WEBHOOK_PATH, WEBHOOK_HEADER) in receivers.posts
    assert receivers.slack.calls[0][2] == f"Bearer {BOT_TOKEN}"
    assert buckets, "the sap calls took tokens from a bucket in Redis"
    assert any(a.startswith("200 ") and "gateway_build_info" in a for a in answers), "the scrape token worked"

    basic = base64.b64encode(f"gateway:{SAP_PASSWORD}".encode())
    for where, text in outputs.items():
        for secret in (*(s.encode() for s in SECRETS), basic):
            assert secret not in text, f"{secret!r} found in {where}"
