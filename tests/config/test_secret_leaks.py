"""A full run of `gateway serve` with every kind of secret referenced from the environment
or a file, then a grep of everything it produced for the secret values: the process's own
output (debug logs), every HTTP answer (MCP, REST, /readyz, /metrics, errors), the audit
database, the CLI's audit export and `config check`."""

from __future__ import annotations

import asyncio
import base64
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from mcp import MCPError
from starlette.applications import Starlette

from connectors.sap import stub as sap_stub
from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier
from gateway.mcp.client import connect
from gateway.serving import free_port, running
from tests.support.gateway import require_service
from tests.support.stores import postgres_reachable

IDENTITY_SECRET = "leak-identity-secret-5f1c0a9e-7d3b-4e2a"
SAP_PASSWORD = "leak-sap-password-8c2e"
PG_PASSWORD = "leak-pg-password-3a7d"
UPSTREAM_TOKEN = "leak-upstream-token-91b4"
SECRETS = (IDENTITY_SECRET, SAP_PASSWORD, PG_PASSWORD, UPSTREAM_TOKEN)
SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
SCHEMA = f"leak_{uuid.uuid4().hex[:8]}"

CONFIG = """\
server: {{host: 127.0.0.1, port: {port}}}
identity: {{secret: "${{env:LEAK_IDENTITY_SECRET}}"}}
policy: {{directory: {policies}, watch: false}}
audit: {{database: audit.db}}
approvals:
  database: "${{file:secrets/approvals-db}}"
  max_hold_seconds: 0.2
  approver_roles: [approver, finance-approver, hr-approver, supervisor, support-supervisor]
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


@pytest.fixture
async def backends(echo_upstream: tuple[str, Starlette]) -> AsyncIterator[tuple[str, str]]:
    require_service("PostgreSQL", await postgres_reachable())
    async with running(sap_stub.create_app(username="gateway", password=SAP_PASSWORD)) as sap:
        yield sap + SERVICE, echo_upstream[0]
    conn = await asyncpg.connect("postgresql://127.0.0.1:5432/test")
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await conn.close()


def _write_config(directory: Path, port: int, sap: str, echo: str, policies: Path) -> Path:
    secrets = directory / "secrets"
    secrets.mkdir()
    user = os.environ.get("USER") or "root"
    (secrets / "approvals-db").write_text(f"postgresql://{user}:{PG_PASSWORD}@127.0.0.1:5432/test?schema={SCHEMA}\n")
    (secrets / "upstream-token").write_text(f"Bearer {UPSTREAM_TOKEN}\n")
    config = directory / "gateway.yaml"
    config.write_text(CONFIG.format(port=port, policies=policies, sap=sap, echo=echo))
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
            ("sap.create_purchase_order", {"vendor_id": "0000100001", "amount": 950, "currency": "EUR"}),
            ("sap.create_purchase_order", {"vendor_id": "0000100001", "amount": 20000, "currency": "EUR"}),
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
            ("GET", "/v1/tools", bearer),
            ("GET", "/v1/tools", {"Authorization": "Bearer not-a-token"}),
            ("GET", "/v1/approvals", bearer),
            ("GET", "/openapi.json", bearer),
            ("POST", "/v1/admin/policy/reload", bearer),
        ):
            response = await http.request(method, path, headers=headers)
            seen.append(f"{response.status_code} {response.headers} {response.text}")
    return seen


async def test_no_output_of_a_full_run_carries_a_secret(
    tmp_path: Path, policy_dir: Path, backends: tuple[str, str]
) -> None:
    port = free_port()
    config = _write_config(tmp_path, port, *backends, policy_dir)
    environ = {**os.environ, "LEAK_IDENTITY_SECRET": IDENTITY_SECRET, "LEAK_SAP_PASSWORD": SAP_PASSWORD}
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
                "leak-bot", ("procurement-agent", "agent-readonly", "tester", "gateway-admin", "approver")
            )
            answers = await _drive(base, token)
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

    basic = base64.b64encode(f"gateway:{SAP_PASSWORD}".encode())
    for where, text in outputs.items():
        for secret in (*(s.encode() for s in SECRETS), basic):
            assert secret not in text, f"{secret!r} found in {where}"
