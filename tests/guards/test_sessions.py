"""MCP sessions are bounded per principal and in total, idle ones expire, and a request
past a bound gets a JSON-RPC error naming it; other principals keep working."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from gateway.mcp.client import connect
from tests.support.gateway import GatewayFactory, RunningGateway

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


def headers(gw: RunningGateway, subject: str) -> dict[str, str]:
    return {"Accept": "application/json, text/event-stream", "Authorization": f"Bearer {gw.token(subject)}"}


async def open_session(http: httpx.AsyncClient, gw: RunningGateway, subject: str) -> httpx.Response:
    return await http.post(gw.mcp_url, json=INITIALIZE, headers=headers(gw, subject))


def gateway(url: str, **sessions: Any) -> dict[str, Any]:
    return {"connectors": {"echo": {"kind": "mcp", "url": url}}, "guards": {"sessions": sessions}}


async def test_a_principal_past_its_session_cap_gets_a_clear_error_and_others_do_not(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    async with start_gateway(**gateway(url, per_principal=3)) as gw, httpx.AsyncClient() as http:
        opened = [await open_session(http, gw, "greedy") for _ in range(3)]
        assert all(r.status_code == 200 for r in opened)
        refused = await open_session(http, gw, "greedy")
        assert refused.status_code == 429
        assert "already holds 3 open MCP sessions" in refused.json()["error"]["message"]
        # The cap is per principal: another agent opens and calls as usual.
        async with connect(gw.mcp_url, gw.token("other")) as client:
            assert not (await client.call_tool("echo.echo", {"text": "hi"})).is_error
        # Closing one session makes room for one more.
        session = opened[0].headers["mcp-session-id"]
        closed = await http.delete(gw.mcp_url, headers={**headers(gw, "greedy"), "mcp-session-id": session})
        assert closed.status_code == 200
        assert (await open_session(http, gw, "greedy")).status_code == 200
        metrics = await gw.scrape()
    assert 'gateway_rejected_requests_total{reason="session_limit"} 1.0' in metrics


async def test_idle_sessions_expire_and_free_their_place(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    async with start_gateway(**gateway(url, per_principal=2, idle_seconds=0.5)) as gw, httpx.AsyncClient() as http:
        first = [await open_session(http, gw, "idler") for _ in range(2)]
        assert (await open_session(http, gw, "idler")).status_code == 429
        await asyncio.sleep(1.5)
        gone = await http.post(
            gw.mcp_url,
            json={"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
            headers={**headers(gw, "idler"), "mcp-session-id": first[0].headers["mcp-session-id"]},
        )
        assert gone.status_code == 404
        assert (await open_session(http, gw, "idler")).status_code == 200


async def test_the_total_cap_answers_503_with_retry_after(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    async with start_gateway(**gateway(url, total=4)) as gw, httpx.AsyncClient() as http:
        for subject in ("a", "b", "c", "d"):
            assert (await open_session(http, gw, subject)).status_code == 200
        full = await open_session(http, gw, "e")
    assert full.status_code == 503
    assert "Too many open sessions" in full.json()["error"]["message"]


async def test_stateless_requests_do_not_count_as_sessions(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    """A 2026-07-28 request opens no session: a principal holding all its sessions still
    calls that way (it was refused as if it opened one more)."""
    url, _ = echo_upstream
    async with start_gateway(**gateway(url, per_principal=2)) as gw, httpx.AsyncClient() as http:
        opened = [await open_session(http, gw, "busy") for _ in range(3)]
        assert [r.status_code for r in opened] == [200, 200, 429]
        agent = httpx2.AsyncClient(headers={"Authorization": f"Bearer {gw.token('busy')}"})
        async with agent, Client(streamable_http_client(gw.mcp_url, http_client=agent), mode="2026-07-28") as client:
            for _ in range(3):
                assert not (await client.call_tool("echo.echo", {"text": "hi"})).is_error
