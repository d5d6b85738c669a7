"""Shared pieces of tests/attacks: the gateway in front of the SAP and mainframe stubs,
tokens of agents and approvers in tenants, REST calls and the audit records of a call."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette

from connectors.mainframe.stub import MainframeStub
from gateway.audit import read_records
from gateway.models import AuditRecord
from tests.support.gateway import GatewayFactory, RunningGateway

SAP_SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
APPROVER_ROLES = [
    "approver",
    "finance-approver",
    "hr-approver",
    "supervisor",
    "support-supervisor",
    "cfo",
    "approvals-auditor",
]
#: 20,000 EUR: the shipped policy holds it for one finance-approver.
ORDER = {"vendor_id": "0000100001", "amount": 20000, "currency": "EUR", "description": "Forklift"}


@dataclass
class Backends:
    sap_url: str
    sap: Starlette
    mainframe: MainframeStub

    def connectors(self) -> dict[str, Any]:
        return {
            "sap": {
                "kind": "sap",
                "url": self.sap_url,
                "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"},
                "timeout_seconds": 5,
            },
            "mainframe": {
                "kind": "mainframe",
                "host": "127.0.0.1",
                "port": self.mainframe.port,
                "auth": {"kind": "basic", "username": "GATEWAY", "password": "pw"},
                "timeout_seconds": 5,
            },
        }

    def sap_writes(self) -> list[Any]:
        return [r for r in self.sap.state.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


@contextlib.asynccontextmanager
async def attack_gateway(
    start_gateway: GatewayFactory, backends: Backends, **approvals: Any
) -> AsyncIterator[RunningGateway]:
    settings = {"approver_roles": APPROVER_ROLES, "max_hold_seconds": 0.2, **approvals}
    async with start_gateway(backends.connectors(), approvals=settings) as gw:
        yield gw


def bearer(gw: RunningGateway, subject: str, *roles: str, tenant: str | None = None) -> dict[str, str]:
    return {"Authorization": f"Bearer {gw.token(subject, roles, tenant=tenant)}"}


async def call(
    gw: RunningGateway, tool: str, arguments: dict[str, Any], headers: dict[str, str], **kw: Any
) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        return await http.post(f"/v1/tools/{tool}:call", json=arguments, headers={**headers, **kw})


async def api(gw: RunningGateway, method: str, path: str, headers: dict[str, str], **kw: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=gw.url, timeout=30) as http:
        return await http.request(method, path, headers=headers, **kw)


async def approve(gw: RunningGateway, approval_id: str, headers: dict[str, str], comment: str = "") -> httpx.Response:
    return await api(gw, "POST", f"/v1/approvals/{approval_id}/approve", headers, json={"comment": comment})


async def held(gw: RunningGateway, tool: str, arguments: dict[str, Any], agent: dict[str, str]) -> str:
    """Ask for a call the policy holds, without waiting; returns its approval id."""
    response = await call(gw, tool, arguments, agent, Prefer="respond-async")
    assert response.status_code == 202, response.text
    return str(response.json()["approval_id"])


async def until_pending(gw: RunningGateway, headers: dict[str, str]) -> str:
    """The id of the first pending approval `headers`' approver sees, once there is one."""
    async with asyncio.timeout(10):
        while True:
            items = (await api(gw, "GET", "/v1/approvals", headers)).json()["approvals"]
            if items:
                return str(items[0]["approval_id"])
            await asyncio.sleep(0.05)


def records(gw: RunningGateway) -> list[AuditRecord]:
    return list(read_records(gw.config.audit.database))


def of_call(gw: RunningGateway, call_id: str) -> list[AuditRecord]:
    return [r for r in records(gw) if r.call_id == call_id]


def edit_policy(policy_dir: Path, old: str, new: str, file: str = "policy.csv") -> None:
    """Edit a policy file (replace `old` by `new`, or append `new` when `old` is empty)."""
    path = policy_dir / file
    text = path.read_text()
    if old:
        assert old in text, old
        text = text.replace(old, new)
    else:
        text += f"\n{new}\n"
    path.write_text(text)


async def reloaded(gw: RunningGateway) -> None:
    result = await gw.gateway.reload_policy("test")
    assert result.ok and result.changed, result.error
