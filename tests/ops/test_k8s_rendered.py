"""The Kubernetes deployment comes up from its files alone: the rendered kustomization's
ConfigMap runs a real gateway with exactly the variables and files the pod gets (the
Secret's keys, the mounted policies and signing key), its roles agree with the policy, and
the agents' port serves no /metrics."""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from connectors.sap import stub as sap_stub
from gateway.audit.checkpoint import generate_key, private_pem
from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier
from gateway.mcp.client import connect
from gateway.serving import free_port, running
from tests.support.gateway import require_service
from tests.support.ops import rendered_kustomization
from tests.support.stores import POSTGRES, postgres_reachable

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
SCHEMA = f"k8s_{uuid.uuid4().hex[:8]}"


@pytest.fixture
async def sap_backend() -> AsyncIterator[tuple[str, Starlette]]:
    require_service("PostgreSQL", await postgres_reachable())
    app = sap_stub.create_app(username="AGENT_GW", password="sap-pass")
    async with running(app) as url:
        yield url + SERVICE, app
    conn = await asyncpg.connect(POSTGRES)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    finally:
        await conn.close()


def _pod_files(root: Path, manifests: dict[tuple[str, str], dict[str, Any]]) -> dict[str, str]:
    """The pod's volumes under `root` (mount path -> local path); the Secret's values made up."""
    container = manifests["Deployment", "agent-gateway"]["spec"]["template"]["spec"]["containers"][0]
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    config = root / "config" / "gateway.yaml"
    config.parent.mkdir()
    config.write_text(manifests["ConfigMap", "agent-gateway-config"]["data"]["gateway.yaml"])
    policies = root / "policies"
    policies.mkdir()
    for name, text in manifests["ConfigMap", "agent-gateway-policies"]["data"].items():
        (policies / name).write_text(text)
    keys = root / "keys"
    keys.mkdir()
    (keys / "audit-signing-key.pem").write_bytes(private_pem(generate_key()))
    return {mounts["config"]["mountPath"]: str(config), mounts["policies"]["mountPath"]: str(policies),
            mounts["keys"]["mountPath"]: str(keys)}  # fmt: skip


def _pod_environment(manifests: dict[tuple[str, str], dict[str, Any]], secret: dict[str, str]) -> dict[str, str]:
    container = manifests["Deployment", "agent-gateway"]["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: secret[e["valueFrom"]["secretKeyRef"]["key"]] for e in container["env"]}


async def test_the_rendered_kustomization_runs_a_gateway(tmp_path: Path, sap_backend) -> None:
    sap_url, sap_app = sap_backend
    manifests = rendered_kustomization()
    files = _pod_files(tmp_path, manifests)
    config_path = files.pop("/etc/gateway/gateway.yaml")
    text = Path(config_path).read_text()
    for mount, local in files.items():  # the volumes, where this machine has them
        text = text.replace(mount, local)
    Path(config_path).write_text(text)
    identity = secrets.token_hex(32)
    user = os.environ.get("USER") or "root"
    secret = {  # what `kubectl create secret generic agent-gateway ...` (docs/deploy.md) holds
        "identity-secret": identity,
        "audit-database-url": f"postgresql://{user}:pg-pass@127.0.0.1:5432/test?schema={SCHEMA}",
        "sap-password": "sap-pass",
    }
    port, metrics_port = free_port(), free_port()
    environ = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")},
        **_pod_environment(manifests, secret),
        # Only what differs on a test machine: loopback addresses, and SAP where its stub runs.
        "GATEWAY_SERVER__HOST": "127.0.0.1",
        "GATEWAY_SERVER__PORT": str(port),
        "GATEWAY_SERVER__METRICS_HOST": "127.0.0.1",
        "GATEWAY_SERVER__METRICS_PORT": str(metrics_port),
        "GATEWAY_CONNECTORS__SAP__URL": sap_url,
    }
    log = tmp_path / "gateway.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", config_path],
            stdout=sink, stderr=subprocess.STDOUT, env=environ, cwd=tmp_path,
        )  # fmt: skip
        try:
            await _exercise(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{metrics_port}", identity, process, log)
        finally:
            process.terminate()
            process.wait(timeout=30)
    assert [r for r in sap_app.state.requests if r.method == "POST"], "the order reached SAP"


async def _exercise(base: str, metrics: str, identity: str, process: subprocess.Popen[bytes], log: Path) -> None:
    mint = TokenVerifier(IdentitySettings(secret=identity), log.parent).mint
    async with httpx.AsyncClient(base_url=base) as http:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                if (await http.get("/readyz")).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            await asyncio.sleep(0.1)
        # A finance approver of the shipped policy may use the approvals API (roles agree).
        approver = {"Authorization": f"Bearer {mint('fin', ('finance-approver',))}"}
        assert (await http.get("/v1/approvals", headers=approver)).status_code == 200
        # Agents reach no metrics on their port; the metrics listener has them.
        assert (await http.get("/metrics")).status_code == 404
        assert "gateway_build_info" in (await http.get(f"{metrics}/metrics")).text
    async with connect(f"{base}/mcp", mint("buyer", ("procurement-agent",))) as client:
        order = {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"}
        result = await client.call_tool("sap.create_purchase_order", order)
    assert not result.is_error, result.content
