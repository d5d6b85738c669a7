from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from typing import Any

import pytest

from connectors.base import BackendUnavailable, CallContext
from connectors.mcp import create
from connectors.mcp.upstream import McpConnector
from gateway.config import ConfigError, ConnectorSettings
from gateway.events import EventBus, ToolsChanged
from gateway.models import Principal

STUB = [sys.executable, "-m", "connectors.mcp.stdio_stub"]


def context() -> CallContext:
    return CallContext(call_id="c", principal=Principal("alice"), traceparent="", timeout=5.0)


def stdio(**options: Any) -> McpConnector:
    # The kind's own factory: these tests look at the MCP connector beneath the wrapper.
    return create(ConnectorSettings("local", "mcp", 5.0, {"command": STUB, **options}), EventBus())


def tools_changed(connector: McpConnector) -> list[str]:
    """The connectors named by every ToolsChanged `connector` publishes from now on."""
    changed: list[str] = []

    async def note(event: ToolsChanged) -> None:
        changed.append(event.connector)

    connector.events.subscribe(ToolsChanged, note)
    return changed


async def eventually(condition: Any, what: str, seconds: float = 10.0) -> None:
    async with asyncio.timeout(seconds):
        while not await condition():
            await asyncio.sleep(0.05)


@pytest.fixture
async def local() -> AsyncIterator[McpConnector]:
    connector = stdio(ping_interval_seconds=0.2)
    await connector.start()
    try:
        await eventually(lambda: _healthy(connector), "connected")
        yield connector
    finally:
        await connector.close()


async def _healthy(connector: McpConnector) -> bool:
    return (await connector.health()).healthy


async def _pid(connector: McpConnector) -> int:
    result = await connector.call("whoami", {}, context())
    assert result.structured is not None
    return int(result.structured["pid"])


async def test_tools_and_calls_over_stdio(local: McpConnector) -> None:
    specs = {s.name: s for s in await local.tools()}
    assert set(specs) == {"echo", "whoami", "add_tool", "crash"}
    assert specs["echo"].read_only and not specs["crash"].read_only
    result = await local.call("echo", {"text": "über"}, context())
    assert result.structured == {"text": "über"}


async def test_tool_list_refreshes_when_the_upstream_announces_a_change(local: McpConnector) -> None:
    changed = tools_changed(local)
    assert "shout" not in {s.name for s in await local.tools()}
    await local.call("add_tool", {"name": "shout"}, context())
    await eventually(lambda: _true(bool(changed)), "list_changed delivered", 5)
    assert changed == ["local"]
    assert "shout" in {s.name for s in await local.tools()}
    assert (await local.call("shout", {"text": "hi"}, context())).structured == {"text": "hi"}


async def _true(value: bool) -> bool:
    return value


async def _restarted(connector: McpConnector, sessions: int) -> bool:
    return connector.sessions_started == sessions and await _healthy(connector)


async def test_crashed_server_is_restarted(local: McpConnector) -> None:
    changed = tools_changed(local)
    first = await _pid(local)
    with pytest.raises(BackendUnavailable, match="upstream closed the connection"):
        await local.call("crash", {}, context())
    await eventually(lambda: _restarted(local, 2), "restarted")
    second = await _pid(local)
    assert second != first
    assert changed == ["local"]  # a restarted server may offer other tools: the catalog is told

    # A server killed while idle is noticed by the liveness ping, without any call.
    os.kill(second, signal.SIGKILL)
    await eventually(lambda: _restarted(local, 3), "restarted again")
    assert await _pid(local) not in (first, second)


async def test_server_that_cannot_start_is_reported_not_raised() -> None:
    connector = stdio(command=[sys.executable, "-c", "import sys; sys.exit(7)"])
    await connector.start()  # must not fail: the supervisor keeps trying with backoff
    await asyncio.sleep(0.5)
    health = await connector.health()
    assert not health.healthy and health.detail
    assert connector.sessions_started == 0
    await connector.close()


def test_stdio_config_errors() -> None:
    with pytest.raises(ConfigError, match=r"^connectors\.local: give exactly one of url .* and command"):
        create(ConnectorSettings("local", "mcp", 5.0, {"command": STUB, "url": "http://x/mcp"}), EventBus())
    with pytest.raises(ConfigError, match=r"^connectors\.local\.command: invalid value 'python -m x': expected a list"):
        create(ConnectorSettings("local", "mcp", 5.0, {"command": "python -m x"}), EventBus())
    with pytest.raises(ConfigError, match=r"^connectors\.local\.command: expected a non-empty list"):
        create(ConnectorSettings("local", "mcp", 5.0, {"command": [""]}), EventBus())
    with pytest.raises(ConfigError, match=r"^connectors\.local\.env\.A: invalid value \(not shown: a secret\)"):
        create(ConnectorSettings("local", "mcp", 5.0, {"command": STUB, "env": {"A": 1}}), EventBus())
    with pytest.raises(ConfigError, match=r"^connectors\.local\.ping_interval_seconds: invalid value 0"):
        create(ConnectorSettings("local", "mcp", 5.0, {"command": STUB, "ping_interval_seconds": 0}), EventBus())
