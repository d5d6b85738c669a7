"""Tool calls to Streamable HTTP upstreams as plain POSTs (connectors.mcp.direct_calls),
through the MCP connector, on both protocol eras, against real SDK servers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import mcp_types as types
import pytest

from connectors.base import BackendUnavailable, CallContext
from connectors.mcp import create
from connectors.mcp.stub import create_app as echo_app
from connectors.mcp.upstream import McpConnector
from connectors.stubkit import serve_app
from gateway.config import ConnectorSettings
from gateway.events import EventBus
from gateway.models import Principal
from gateway.relay import Relay, relaying
from gateway.serving import free_port
from tests.support import conformance_stub

PROTOCOLS = ["legacy", "2026-07-28"]
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def context() -> CallContext:
    return CallContext(call_id="c", principal=Principal("alice"), traceparent=TRACEPARENT, timeout=5.0)


async def connected(url: str, protocol: str) -> McpConnector:
    connector = create(ConnectorSettings("up", "mcp", 5.0, {"url": url, "protocol": protocol}), EventBus())
    await connector.start()
    async with asyncio.timeout(10):
        while not (await connector.health()).healthy:
            await asyncio.sleep(0.02)
    return connector


class Recorder:
    """A back-channel that notes what reaches it and answers sampling and elicitation."""

    def __init__(self) -> None:
        self.seen: list[Any] = []

    def relay(self) -> Relay:
        async def progress(progress: float, total: float | None, message: str | None) -> None:
            self.seen.append(("progress", progress, total, message))

        async def log(level: str, data: Any, logger: str | None) -> None:
            self.seen.append(("log", level, data))

        async def sample(params: types.CreateMessageRequestParams) -> types.CreateMessageResult:
            self.seen.append(("sample", params.max_tokens))
            return types.CreateMessageResult(role="assistant", content=types.TextContent(text="hi"), model="m")

        async def elicit(params: types.ElicitRequestParams) -> types.ElicitResult:
            self.seen.append(("elicit", params.message))
            return types.ElicitResult(action="accept", content={"username": "a", "email": "a@example.org"})

        return Relay(Principal("alice"), "up", "t", progress, log, sample, elicit)


@pytest.fixture
async def conformance() -> AsyncIterator[str]:
    async with serve_app(conformance_stub.create_app()) as url:
        yield f"{url}/mcp"


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_call_reaches_the_upstream_with_its_traceparent_and_comes_back_as_sent(protocol: str) -> None:
    app = echo_app()
    async with serve_app(app) as url:
        connector = await connected(f"{url}/mcp", protocol)
        try:
            result = await connector.call("echo", {"text": "héllo"}, context())
        finally:
            await connector.close()
    assert result.content == ({"type": "text", "text": "héllo"},)
    assert result.structured == {"text": "héllo"} and not result.is_error
    assert app.state.calls == [{"tool": "echo", "arguments": {"text": "héllo"}, "traceparent": TRACEPARENT}]


@pytest.mark.parametrize(
    ("protocol", "tool", "expected"),
    [
        *(
            (protocol, "test_tool_with_progress", [("progress", v, 100, f"{v}%") for v in (0, 50, 100)])
            for protocol in PROTOCOLS
        ),
        *(
            (
                protocol,
                "test_tool_with_logging",
                [("log", "info", f"tool {s}") for s in ("started", "working", "finished")],
            )
            for protocol in PROTOCOLS
        ),
        # A server asks for sampling or elicitation mid-call only on the 2025 protocols (on
        # 2026-07-28 it answers input_required, which the SDK client takes over).
        ("legacy", "test_sampling", [("sample", 100)]),
        ("legacy", "test_elicitation", [("elicit", "Please provide your information")]),
    ],
)
async def test_what_the_upstream_sends_during_a_call_reaches_its_back_channel(
    conformance: str, protocol: str, tool: str, expected: list[Any]
) -> None:
    recorder = Recorder()
    connector = await connected(conformance, protocol)
    try:
        with relaying(recorder.relay()):
            result = await connector.call(tool, {}, context())
    finally:
        await connector.close()
    assert not result.is_error, result.content
    assert recorder.seen == expected


async def test_an_upstream_error_is_a_tool_error_result(conformance: str) -> None:
    connector = await connected(conformance, "legacy")
    try:
        result = await connector.call("test_error_handling", {}, context())
    finally:
        await connector.close()
    assert result.is_error


async def test_a_session_the_upstream_forgot_is_refused_then_opened_again() -> None:
    port = free_port()
    async with serve_app(echo_app(), port=port) as url:
        connector = await connected(f"{url}/mcp", "legacy")
    try:
        async with serve_app(echo_app(), port=port):  # a restarted upstream knows no session
            with pytest.raises(BackendUnavailable, match="ended the session"):
                await connector.call("echo", {"text": "a"}, context())
            async with asyncio.timeout(10):
                while True:
                    try:
                        result = await connector.call("echo", {"text": "b"}, context())
                        break
                    except BackendUnavailable:
                        await asyncio.sleep(0.1)
    finally:
        await connector.close()
    assert result.content == ({"type": "text", "text": "b"},)
