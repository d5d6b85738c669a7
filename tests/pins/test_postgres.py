"""Pins on PostgreSQL: two gateway replicas on one database share what is pinned, waiting and
approved, and an approval made on one replica unhides the tool on the other at once
(LISTEN/NOTIFY), also after the other's listener connection was lost."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
from collections.abc import AsyncIterator, Callable

import asyncpg
import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from gateway.mcp.client import connect
from gateway.pins.gate import PinError
from gateway.pins.postgres_store import PostgresPinStore
from tests.support.cli import run_cli
from tests.support.gateway import GatewayFactory, RunningGateway
from tests.support.stores import POSTGRES, Backend, postgres_backend

STRICT = {"trust_on_first_use": False}


@pytest.fixture
async def postgres() -> AsyncIterator[Backend]:
    async with postgres_backend() as backend:
        yield backend


Replica = Callable[[], contextlib.AbstractAsyncContextManager[RunningGateway]]


@pytest.fixture
def replica(postgres: Backend, echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory) -> Replica:
    """Starts a gateway replica on the shared database, in front of the echo upstream."""
    connectors = {"echo": {"kind": "mcp", "url": echo_upstream[0], "timeout_seconds": 5}}
    return lambda: start_gateway(connectors, catalog=STRICT, audit={"database": postgres.database})


@pytest.fixture
async def replicas(replica: Replica) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    async with replica() as a, replica() as b:
        yield a, b


async def echo_tools(gw: RunningGateway) -> set[str]:
    async with connect(gw.mcp_url, gw.token("ci", roles=("tester",))) as client:
        return {t.name for t in (await client.list_tools()).tools if t.name.startswith("echo.")}


async def until_listed(gw: RunningGateway, name: str) -> None:
    """Until `name` is in the gateway's tool list. Nothing but the NOTIFY makes it appear: the
    gateway re-reads a connector's tools only when told to, or when an agent names an unknown
    tool, which listing does not."""
    async with asyncio.timeout(10):
        while name not in await echo_tools(gw):
            await asyncio.sleep(0.05)


async def test_a_definition_quarantined_on_one_replica_and_approved_on_the_other_is_shown_on_both(
    replicas: tuple[RunningGateway, RunningGateway], replica: Replica, echo_upstream: tuple[str, Starlette]
) -> None:
    (a, b), upstream_app = replicas, echo_upstream[1]
    assert await echo_tools(a) == set()
    async with connect(a.mcp_url, a.token("ci", roles=("tester",))) as client:
        refused = await client.call_tool("echo.echo", {"text": "hi"})
    assert refused.is_error and "tool echo.echo is quarantined" in refused.content[0].text
    # One review list: B lists what waits, once per definition however many replicas saw it.
    rita = {"Authorization": f"Bearer {b.token('rita', roles=('tool-reviewer',))}"}
    async with httpx.AsyncClient(base_url=b.url) as http:
        pending = (await http.get("/v1/catalog/pending", headers=rita)).json()["pending"]
    assert sorted(p["tool"] for p in pending) == ["echo.add", "echo.echo", "echo.sleep"]

    token = b.token("rita", roles=("tool-reviewer",))
    approved = await run_cli("tools", "approve", "echo.echo", "--url", b.url, "--token", token)
    assert approved.output.startswith("approved echo.echo ")
    # A hears of it through NOTIFY: no restart, no agent asking for an unknown tool first.
    await until_listed(a, "echo.echo")
    async with connect(a.mcp_url, a.token("ci", roles=("tester",))) as client:
        answered = await client.call_tool("echo.echo", {"text": "from a"})
    assert not answered.is_error and [c["tool"] for c in upstream_app.state.calls] == ["echo"]

    # The API on A sees the same list, and approving there reaches B too.
    async with httpx.AsyncClient(base_url=a.url) as http:
        left = (await http.get("/v1/catalog/pending", headers=rita)).json()["pending"]
        assert sorted(p["tool"] for p in left) == ["echo.add", "echo.sleep"]
        ok = await http.post("/v1/catalog/pending/echo.add/approve", headers=rita)
        assert ok.status_code == 200, ok.text
    await until_listed(b, "echo.add")

    # A replica started later finds the approvals in the shared database.
    async with replica() as c:
        assert await echo_tools(c) == {"echo.echo", "echo.add"}


async def test_an_agent_session_is_told_the_tool_list_changed_when_another_replica_approves(
    replicas: tuple[RunningGateway, RunningGateway],
) -> None:
    a, b = replicas
    changed = asyncio.Event()

    async def on_message(message: object) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            changed.set()

    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {a.token('ci')}"}) as http,
        Client(streamable_http_client(a.mcp_url, http_client=http), mode="legacy", message_handler=on_message) as agent,
    ):
        await agent.list_tools()
        approve = await b.gateway.approve_definition("echo.sleep", "rita", None)
        assert approve.tool == "sleep"
        await asyncio.wait_for(changed.wait(), 10)
        assert "echo.sleep" in {t.name for t in (await agent.list_tools()).tools}


async def test_an_approval_whose_notification_was_lost_is_found_when_the_listener_reconnects(
    replicas: tuple[RunningGateway, RunningGateway], postgres: Backend
) -> None:
    a, _ = replicas
    # An approval that sent no notification (as one made while A's listener was down).
    await postgres.raw(
        "UPDATE tool_pins SET state = 'approved', decided_by = 'rita' WHERE connector = 'echo' AND tool = 'echo'"
    )
    assert "echo.echo" not in await echo_tools(a)
    schema = postgres.database.rsplit("schema=", 1)[1]
    channel = f"agent_gateway_pins_{hashlib.sha256(schema.encode()).hexdigest()[:16]}"
    admin = await asyncpg.connect(POSTGRES)
    try:
        # The replicas' listeners: the connections whose last statement was LISTEN on this
        # schema's pins channel.
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query = $1", f'LISTEN "{channel}"'
        )
    finally:
        await admin.close()
    assert killed == 2
    # Reconnected, A re-reads every pinned connector: approvals made meanwhile told it nothing.
    await until_listed(a, "echo.echo")


async def test_a_pins_database_that_cannot_be_reached_is_one_clear_error() -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(
        PinError, match=rf"catalog\.database: cannot open the pins database postgresql://127\.0\.0\.1:{port}/x"
    ):
        await PostgresPinStore.open(f"postgresql://127.0.0.1:{port}/x", lambda connector: None)
    with pytest.raises(PinError, match=r"catalog\.database: schema must be one lower-case SQL name"):
        await PostgresPinStore.open(f"{POSTGRES}?schema=Bad-Name", lambda connector: None)
