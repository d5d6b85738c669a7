from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import pytest

from connectors.base import BackendError, BackendUnavailable, CallContext, Health, create_connector
from connectors.resilience import CircuitBreaker, CircuitState, ConnectorBusy, ResiliencePolicy, ResilientConnector
from connectors.sap.stub import SERVICE_PATH, create_app
from connectors.stubkit import serve_app
from gateway.config import ConnectorSettings
from gateway.models import Principal, ToolResult, ToolSpec
from gateway.serving import free_port

READ = ("search_vendors", {})
WRITE = ("create_purchase_order", {"vendor_id": "0000100001", "amount": 5, "currency": "EUR", "description": "x"})


def context(timeout: float = 5.0) -> CallContext:
    return CallContext(call_id="c", principal=Principal("alice"), traceparent="", timeout=timeout)


def sap_connector(url: str, **options: Any) -> ResilientConnector:
    timeout = options.pop("timeout_seconds", 5.0)
    connector = create_connector(
        ConnectorSettings(
            "sap",
            "sap",
            timeout,
            {
                "url": url + SERVICE_PATH,
                "auth": {"kind": "basic", "username": "demo", "password": "demo"},
                "retry_backoff_seconds": 0.01,
                **options,
            },
        )
    )
    assert isinstance(connector, ResilientConnector)
    return connector


@pytest.fixture
def unused_port() -> int:
    return free_port()


async def test_hung_backend_gives_a_timeout_error_quickly() -> None:
    app = create_app()
    async with serve_app(app) as url:
        connector = sap_connector(url, timeout_seconds=0.2, retries=1)
        await connector.start()
        app.state.faults.hang = True
        async with asyncio.timeout(3):  # without the deadline the call would hang forever
            with pytest.raises(BackendUnavailable, match=r"^did not answer within 0\.2 s$"):
                await connector.call(*READ, context())
            with pytest.raises(BackendUnavailable, match="did not answer"):
                await connector.call(*WRITE, context())
        # The read was tried twice, the write once (it may have happened: never retried).
        assert [r.method for r in app.state.requests] == ["GET", "GET", "GET"]
        assert [r.headers.get("x-csrf-token") for r in app.state.requests] == [None, None, "Fetch"]
        await connector.close()


async def test_writes_are_never_retried_reads_are() -> None:
    app = create_app()
    async with serve_app(app) as url:
        connector = sap_connector(url, retries=2, circuit_failure_threshold=100)
        await connector.start()
        await connector.call(*WRITE, context())  # gets the CSRF token while the backend is fine
        app.state.requests.clear()
        app.state.faults.fail_status = 503
        with pytest.raises(BackendUnavailable, match=r"backend unavailable \(HTTP 503\)"):
            await connector.call(*WRITE, context())
        assert len(app.state.requests) == 1
        with pytest.raises(BackendUnavailable, match=r"HTTP 503"):
            await connector.call(*READ, context())
        assert len(app.state.requests) == 1 + 3
        await connector.close()


async def test_dead_backend_opens_the_circuit_which_closes_when_it_returns(unused_port: int) -> None:
    connector = sap_connector(
        f"http://127.0.0.1:{unused_port}", retries=0, circuit_failure_threshold=2, circuit_reset_seconds=0.3
    )
    await connector.start()  # must not fail while the backend is down
    for _ in range(2):
        with pytest.raises(BackendUnavailable, match=r"^backend unreachable \(ConnectError\)$"):
            await connector.call(*READ, context())
    assert connector.circuit_state is CircuitState.OPEN
    with pytest.raises(BackendUnavailable, match=r"circuit open after repeated failures .*unreachable.*retry in"):
        await connector.call(*READ, context())
    health = await connector.health()
    assert not health.healthy and health.detail.startswith("circuit open")

    app = create_app()
    async with serve_app(app, port=unused_port):
        with pytest.raises(BackendUnavailable, match="circuit open"):
            await connector.call(*WRITE, context())
        assert app.state.requests == []  # an open circuit sends nothing
        await asyncio.sleep(0.35)
        assert connector.circuit_state is CircuitState.HALF_OPEN
        # A write is not a probe: the health check probes first, then the write goes through.
        result = await connector.call(*WRITE, context())
        assert result.structured is not None
        assert connector.circuit_state is CircuitState.CLOSED
        assert (await connector.health()) == Health(True, "circuit closed; backend answered HTTP 200")
    await connector.close()


async def test_health_probe_closes_a_half_open_circuit(unused_port: int) -> None:
    connector = sap_connector(
        f"http://127.0.0.1:{unused_port}", retries=0, circuit_failure_threshold=1, circuit_reset_seconds=0.1
    )
    await connector.start()
    with pytest.raises(BackendUnavailable):
        await connector.call(*READ, context())
    await asyncio.sleep(0.15)
    health = await connector.health()  # half-open, backend still down: opens again
    assert not health.healthy
    assert connector.circuit_state is CircuitState.OPEN
    async with serve_app(create_app(), port=unused_port):
        await asyncio.sleep(0.15)
        assert (await connector.health()).healthy
        assert connector.circuit_state is CircuitState.CLOSED
    await connector.close()


async def test_concurrency_is_bounded_and_waiting_does_not_open_the_circuit() -> None:
    app = create_app()
    async with serve_app(app) as url:
        connector = sap_connector(url, max_concurrency=1, retries=0, circuit_failure_threshold=1, timeout_seconds=1.0)
        await connector.start()
        app.state.faults.hang = True
        first = asyncio.create_task(connector.call(*READ, context()))
        await asyncio.sleep(0.05)
        with pytest.raises(ConnectorBusy, match=r"too many concurrent calls \(limit 1\)"):
            await connector.call(*READ, context(timeout=0.2))
        assert len(app.state.requests) == 1
        app.state.faults.release()
        assert (await first).structured is not None
        assert connector.circuit_state is CircuitState.CLOSED
        await connector.close()


class Broken:
    """A connector with a bug: the wrapper must not let its exception reach the agent."""

    name = "broken"

    async def start(self) -> None: ...
    async def close(self) -> None: ...

    async def tools(self) -> list[ToolSpec]:
        return [ToolSpec("broken", "t", read_only=True)]

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        raise KeyError("secret internal detail")

    async def health(self) -> Health:
        raise RuntimeError("boom")


async def test_connector_bugs_become_agent_safe_errors() -> None:
    connector = ResilientConnector(Broken(), ResiliencePolicy(timeout=1.0, retries=3))
    with pytest.raises(BackendError, match=r"^internal connector error$"):
        await connector.call("t", {}, context())
    assert await connector.health() == Health(False, "circuit closed; health check failed (RuntimeError)")


def test_circuit_breaker_states() -> None:
    now = [100.0]
    breaker = CircuitBreaker(threshold=3, reset_after=10.0, clock=lambda: now[0])
    for _ in range(2):
        breaker.failure("down")
    assert breaker.state is CircuitState.CLOSED
    breaker.success()
    for _ in range(3):
        breaker.failure("down")
    assert breaker.state is CircuitState.OPEN
    assert breaker.retry_in() == 10.0
    now[0] += 10.0
    assert breaker.state is CircuitState.HALF_OPEN
    breaker.failure("still down")  # a failed probe re-opens at once
    assert breaker.state is CircuitState.OPEN
    assert breaker.last_error == "still down"
    now[0] += 10.0
    breaker.success()
    assert breaker.state is CircuitState.CLOSED
