"""Helpers of the incident-response tests: the admin's REST calls and the audit records."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from connectors.mainframe.stub import MainframeStub, serve_mainframe
from connectors.sap import stub as sap_stub
from gateway.app import create_app
from gateway.models import AuditRecord
from gateway.serving import running
from tests.support.gateway import RunningGateway, gateway_config
from tests.support.policy_dirs import write_policy

ADMIN = ("oncall", ("gateway-admin",))


async def admin(
    gw: RunningGateway, method: str, path: str, *, who: tuple[str, tuple[str, ...]] = ADMIN, **kwargs: Any
) -> httpx.Response:
    headers = {"Authorization": f"Bearer {gw.token(who[0], who[1])}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=15) as http:
        return await http.request(method, path, **kwargs)


async def suspend(gw: RunningGateway, **body: Any) -> dict[str, Any]:
    response = await admin(gw, "POST", "/v1/admin/suspensions", json={"reason": "runaway loop", **body})
    assert response.status_code == 201, response.text
    suspension: dict[str, Any] = response.json()["suspension"]
    return suspension


async def resume(gw: RunningGateway, suspension_id: str, reason: str = "fixed") -> httpx.Response:
    return await admin(gw, "POST", f"/v1/admin/suspensions/{suspension_id}/resume", json={"reason": reason})


async def records(gw: RunningGateway) -> list[AuditRecord]:
    """Every record of the gateway's log, once the queued ones are written."""
    await gw.gateway.audit.append("test.marker", {})
    found: list[AuditRecord] = await gw.gateway.audit.queries.store.records(0, 100_000)
    return found


async def eventually(check: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not await check():
            await asyncio.sleep(0.02)


INCIDENT_POLICY = """\
# Buyers create small orders directly.
p, procurement-agent, *, sap.create_purchase_order, allow, r.args.amount < 10000, -
# Larger orders need a finance approver.
p, procurement-agent, *, sap.create_purchase_order, approve, r.args.amount >= 10000, 1 finance-approver 4h
# Buyers never post invoices.
p, procurement-agent, *, sap.post_invoice, deny, true, -
# Buyers may read orders.
p, procurement-agent, *, sap.get_purchase_order, allow, true, -
# Treasury bots move money and read accounts.
p, treasury-agent, *, mainframe.*, allow, true, -
# On-call responders take back what agents did.
p, incident-responder, *, sap.cancel_purchase_order, allow, true, -
p, incident-responder, *, mainframe.funds_transfer_reversal, allow, true, -
# Buyers release orders (nothing takes a release back).
p, procurement-agent, *, sap.release_purchase_order, allow, true, -
"""
RESPONDER = ("oncall", ("gateway-admin", "incident-responder"))


@dataclass
class Backends:
    gw: RunningGateway
    sap: Starlette
    mainframe: MainframeStub

    def orders(self) -> dict[str, dict[str, Any]]:
        return {o["PurchaseOrder"]: o for o in self.sap.state.sap.data["A_PurchaseOrder"]}

    def sap_writes(self) -> list[Any]:
        return [r for r in self.sap.state.requests if r.method == "POST"]


@contextlib.asynccontextmanager
async def incident_backends(tmp_path: Path, policy: str = INCIDENT_POLICY, **sections: Any) -> AsyncIterator[Backends]:
    """The gateway in front of the SAP stub (test runs on) and the mainframe stub."""
    policy_dir = write_policy(tmp_path / "incident-policy", policy)
    sap = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(sap) as sap_url, serve_mainframe(password="mf-pw") as mainframe:
        connectors = {
            "sap": {
                "kind": "sap",
                "url": sap_url + sap_stub.SERVICE_PATH,
                "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"},
                "test_run": True,
                "timeout_seconds": 5,
            },
            "mainframe": {
                "kind": "mainframe",
                "host": "127.0.0.1",
                "port": mainframe.port,
                "auth": {"kind": "basic", "username": "GATEWAY", "password": "mf-pw"},
                "timeout_seconds": 5,
            },
        }
        sections.setdefault("approvals", {"max_hold_seconds": 0.2})
        config = gateway_config(tmp_path, policy_dir, connectors, **sections)
        app = create_app(config)
        async with running(app) as url:
            yield Backends(RunningGateway(url, app, config), sap, mainframe)


ORDER = {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"}
