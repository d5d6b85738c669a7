"""The kill switch across replicas on one PostgreSQL: a suspension made on one replica
stops calls on the other within one second (LISTEN/NOTIFY, not the slow re-read), and
cancels the calls the other replica has in flight."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.mcp.client import connect
from gateway.serving import running
from gateway.suspensions import service as suspension_service
from tests.support.gateway import RunningGateway, gateway_config
from tests.support.incident import resume, suspend
from tests.support.stores import Backend, postgres_backend


@pytest.fixture
async def postgres() -> AsyncIterator[Backend]:
    async with postgres_backend() as backend:
        yield backend


@contextlib.asynccontextmanager
async def _replica(tmp_path: Path, policy_dir: Path, upstream: str, database: str) -> AsyncIterator[RunningGateway]:
    connectors = {"echo": {"kind": "mcp", "url": upstream, "timeout_seconds": 60}}
    config = gateway_config(tmp_path, policy_dir, connectors, audit={"database": database})
    app = create_app(config)
    async with running(app) as url:
        yield RunningGateway(url, app, config)


async def test_a_suspension_on_one_replica_stops_the_other_within_a_second(
    postgres: Backend, echo_upstream: tuple[str, Starlette], policy_dir: Path, tmp_path: Path
) -> None:
    # The slow safety re-read is the fallback; only NOTIFY can make it in time.
    assert suspension_service.POSTGRES_POLL_SECONDS >= 5
    upstream, _ = echo_upstream
    async with (
        _replica(tmp_path / "a", policy_dir, upstream, postgres.database) as a,
        _replica(tmp_path / "b", policy_dir, upstream, postgres.database) as b,
        connect(b.mcp_url, b.token("agent-1")) as on_b,
    ):
        slow = asyncio.create_task(on_b.call_tool("echo.sleep", {"seconds": 30}))
        await asyncio.sleep(0.5)
        suspension = await suspend(a, scope="subject", value="agent-1", reason="stop everywhere")
        suspended_at = time.monotonic()
        cancelled = await asyncio.wait_for(slow, 5)
        assert time.monotonic() - suspended_at < 1.0
        assert cancelled.is_error and "stop everywhere" in cancelled.content[0].text
        refused = await on_b.call_tool("echo.echo", {"text": "x"})
        assert refused.is_error and "suspended" in refused.content[0].text
        assert b.gateway.metrics.incident.suspended_cancelled._value.get() == 1
        assert (await resume(b, suspension["suspension_id"])).status_code == 200
        async with asyncio.timeout(1.0):
            while a.gateway.suspensions.active():
                await asyncio.sleep(0.01)
        async with connect(a.mcp_url, a.token("agent-1")) as on_a:
            assert not (await on_a.call_tool("echo.echo", {"text": "back"})).is_error
