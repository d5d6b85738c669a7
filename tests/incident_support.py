"""Helpers of the incident-response tests: the admin's REST calls and the audit records."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from gateway.models import AuditRecord
from tests.conftest import RunningGateway

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
