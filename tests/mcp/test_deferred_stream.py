"""Stateless (2026-07-28) requests that asked for no notifications are answered through the
SDK's JSON mode: plain JSON when quick, an event stream of pings ending in the answer when
slow, and cancelled when the agent hangs up; requests that asked for progress or logs take
the SDK's event-stream mode as before."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from gateway.audit import read_records
from gateway.mcp import deferred_stream
from tests.mcp.test_front import lab_gateway, until
from tests.support.gateway import RunningGateway

__all__ = ["lab_gateway"]  # a fixture, used by name

MODERN = "2026-07-28"


@pytest.fixture
def json_mode(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The name of each request answered through the JSON mode."""
    served: list[str] = []
    real = deferred_stream._Answer.serve

    async def serve(self: Any, app: Any, scope: Any, receive: Any) -> None:
        served.append(dict(scope["headers"]).get(b"mcp-name", b"").decode())
        await real(self, app, scope, receive)

    monkeypatch.setattr(deferred_stream._Answer, "serve", serve)
    return served


def _envelope(request_id: int, method: str, params: dict[str, Any]) -> dict[str, Any]:
    meta = {
        "io.modelcontextprotocol/protocolVersion": MODERN,
        "io.modelcontextprotocol/clientInfo": {"name": "raw", "version": "1"},
        "io.modelcontextprotocol/clientCapabilities": {},
    }
    return {"jsonrpc": "2.0", "id": request_id, "method": method, "params": {**params, "_meta": meta}}


def _headers(gw: RunningGateway, tool: str) -> dict[str, str]:
    return {
        "Authorization": f"Bearer {gw.token()}",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": tool,
    }


async def _call(gw: RunningGateway, tool: str, arguments: dict[str, Any]) -> httpx.Response:
    body = _envelope(7, "tools/call", {"name": tool, "arguments": arguments})
    async with httpx.AsyncClient(timeout=30) as http:
        return await http.post(gw.mcp_url, json=body, headers=_headers(gw, tool))


@contextlib.asynccontextmanager
async def agent(gw: RunningGateway, mode: str = MODERN) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {gw.token()}"})
    async with http, Client(streamable_http_client(gw.mcp_url, http_client=http), mode=mode, cache=None) as client:
        yield client


async def test_a_quick_answer_is_plain_json(echo_gateway: RunningGateway, json_mode: list[str]) -> None:
    answer = await _call(echo_gateway, "echo.add", {"a": 2, "b": 3})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["result"]["structuredContent"] == {"sum": 5}
    assert json_mode == ["echo.add"]


async def test_the_official_client_is_answered_through_json_mode(
    echo_gateway: RunningGateway, json_mode: list[str]
) -> None:
    async with agent(echo_gateway) as client:
        result = await client.call_tool("echo.echo", {"text": "hi"})
    assert result.content[0].text == "hi"  # type: ignore[union-attr]
    assert "echo.echo" in json_mode


async def test_a_slow_answer_becomes_a_stream_of_pings_then_the_answer(
    echo_gateway: RunningGateway, json_mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deferred_stream, "KEEP_ALIVE_SECONDS", 0.2)
    answer = await _call(echo_gateway, "echo.sleep", {"seconds": 0.7})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/event-stream"
    *pings, event = answer.text.split("\r\n\r\n")[:-1]
    assert len(pings) >= 2 and set(pings) == {": ping"}
    kind, data = event.split("\r\n")
    assert kind == "event: message"
    message = json.loads(data.removeprefix("data: "))
    assert message["id"] == 7 and message["result"]["content"][0]["text"] == "done"
    assert json_mode == ["echo.sleep"]


async def test_the_official_client_reads_a_slow_answer(
    echo_gateway: RunningGateway, json_mode: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(deferred_stream, "KEEP_ALIVE_SECONDS", 0.2)
    async with agent(echo_gateway) as client:
        result = await client.call_tool("echo.sleep", {"seconds": 0.5})
    assert result.content[0].text == "done"  # type: ignore[union-attr]
    assert "echo.sleep" in json_mode


async def test_an_agent_hanging_up_cancels_the_upstream_call(
    lab_gateway: tuple[RunningGateway, Starlette], json_mode: list[str]
) -> None:
    gw, upstream = lab_gateway
    call = asyncio.create_task(_call(gw, "lab.wait", {}))
    await until(lambda: "started" in upstream.state.events, "the upstream call to start")
    call.cancel()  # closes the connection
    await until(lambda: "cancelled" in upstream.state.events, "the upstream call to be cancelled")
    assert json_mode == ["lab.wait"]

    def completed() -> list[str]:
        return [r.data["status"] for r in read_records(gw.config.audit.database) if r.kind == "call.completed"]

    await until(completed, "the cancelled call's outcome record")
    assert completed() == ["error"]


@pytest.mark.parametrize(
    ("meta", "text"),
    [
        ({"progressToken": "p1"}, "hi"),
        ({"io.modelcontextprotocol/logLevel": "info"}, "hi"),
        ({"progress\\u0054oken": "p1"}, "hi"),
        # The marker of a listen request, whose answer is a stream: found anywhere in a body.
        ({}, "subscriptions/listen"),
    ],
    ids=["progress", "logs", "escaped", "listen"],
)
async def test_requests_that_may_ask_for_notifications_take_the_event_stream_mode(
    echo_gateway: RunningGateway, json_mode: list[str], meta: dict[str, str], text: str
) -> None:
    body = _envelope(3, "tools/call", {"name": "echo.echo", "arguments": {"text": text}})
    body["params"]["_meta"].update(meta)
    raw = json.dumps(body).replace("progress\\\\u0054oken", "progress\\u0054oken").encode()
    async with httpx.AsyncClient() as http:
        headers = {**_headers(echo_gateway, "echo.echo"), "Content-Type": "application/json"}
        answer = await http.post(echo_gateway.mcp_url, content=raw, headers=headers)
    assert answer.status_code == 200
    assert json_mode == []


async def test_handshake_era_requests_are_untouched(echo_gateway: RunningGateway, json_mode: list[str]) -> None:
    async with agent(echo_gateway, "legacy") as client:
        assert not (await client.call_tool("echo.echo", {"text": "hi"})).is_error
    assert json_mode == []


async def test_an_oversized_body_is_refused_as_before(echo_gateway: RunningGateway, json_mode: list[str]) -> None:
    limit = echo_gateway.config.server.max_body_bytes
    answer = await _call(echo_gateway, "echo.echo", {"text": "x" * (limit + 10)})
    assert answer.status_code == 413
    assert json_mode == []
