"""Shed load instead of queueing: a stalled audit writer (its database locked by another
process) makes new calls get 503 with Retry-After at once, and calls resume when it
drains; a saturated backend refuses calls past its waiting room at once."""

from __future__ import annotations

import asyncio
import sqlite3
import time

import httpx
from starlette.applications import Starlette

from tests.support.gateway import GatewayFactory, RunningGateway


def client(gw: RunningGateway) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=gw.url, headers={"Authorization": f"Bearer {gw.token()}"}, timeout=30)


async def test_a_stalled_audit_writer_sheds_new_calls_with_503(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    url, upstream = echo_upstream
    async with (
        start_gateway(
            {"echo": {"kind": "mcp", "url": url}}, guards={"audit_queue": 2}, audit={"busy_timeout_seconds": 20}
        ) as gw,
        client(gw) as http,
    ):
        lock = sqlite3.connect(gw.config.audit.database, isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        try:
            stuck = [
                asyncio.create_task(http.post("/v1/tools/echo.echo:call", json={"text": f"{i}"})) for i in range(3)
            ]
            async with asyncio.timeout(10):
                while gw.gateway.audit.pending < 2:
                    await asyncio.sleep(0.05)
            started = time.monotonic()
            shed = await http.post("/v1/tools/echo.echo:call", json={"text": "one more"})
            mcp = await http.post(
                "/mcp",
                json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
                headers={"Accept": "application/json, text/event-stream"},
            )
            waited = time.monotonic() - started
        finally:
            lock.rollback()
            lock.close()
        statuses = [r.status_code for r in await asyncio.gather(*stuck)]
        assert statuses[0] == 200 and set(statuses) <= {200, 503}
        after = await http.post("/v1/tools/echo.echo:call", json={"text": "drained"})
        metrics = await gw.scrape()
    assert waited < 1
    assert shed.status_code == 503 and shed.headers["Retry-After"] == "1"
    assert shed.json()["type"].endswith(":overloaded") and "audit records are waiting" in shed.json()["detail"]
    assert mcp.status_code == 503 and "overloaded" in mcp.json()["error"]["message"]
    assert after.status_code == 200
    assert f'gateway_load_shed_total{{resource="audit"}} {2.0 + statuses.count(503)}' in metrics
    assert "one more" not in str(upstream.state.calls)


async def test_a_saturated_backend_refuses_past_its_waiting_room_at_once(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    stanza = {"kind": "mcp", "url": url, "max_concurrency": 1, "max_waiting": 1, "timeout_seconds": 10}
    async with start_gateway({"echo": stanza}) as gw, client(gw) as http:
        busy = [asyncio.create_task(http.post("/v1/tools/echo.sleep:call", json={"seconds": 1})) for _ in range(2)]
        await asyncio.sleep(0.3)
        started = time.monotonic()
        refused = await http.post("/v1/tools/echo.echo:call", json={"text": "no room"})
        waited = time.monotonic() - started
        assert [r.status_code for r in await asyncio.gather(*busy)] == [200, 200]
    assert waited < 0.5
    assert refused.status_code == 503, refused.text
    assert "1 waiting" in refused.json()["detail"] and refused.headers["Retry-After"] == "1"
