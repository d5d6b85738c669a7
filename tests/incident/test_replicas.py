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
from gateway.approvals import ApprovalFilter
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
async def _replica(
    tmp_path: Path, policy_dir: Path, upstream: str, database: str, **sections: dict[str, str]
) -> AsyncIterator[RunningGateway]:
    connectors = {"echo": {"kind": "mcp", "url": upstream, "timeout_seconds": 60}}
    sections.setdefault("audit", {"database": database})
    config = gateway_config(tmp_path, policy_dir, connectors, **sections)
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


async def test_a_held_call_on_one_replica_is_denied_by_a_suspension_on_the_other(
    postgres: Backend, echo_upstream: tuple[str, Starlette], policy_dir: Path, tmp_path: Path
) -> None:
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\n# Large sums need one approver.\np, tester, *, echo.add, approve, r.args.a > 100, 1 approver 1h\n")
    upstream, upstream_app = echo_upstream
    async with (
        _replica(tmp_path / "a", policy_dir, upstream, postgres.database) as a,
        _replica(tmp_path / "b", policy_dir, upstream, postgres.database) as b,
        connect(b.mcp_url, b.token("agent-1")) as on_b,
    ):
        held = asyncio.create_task(on_b.call_tool("echo.add", {"a": 1000, "b": 1}))
        async with asyncio.timeout(10):
            while not await b.gateway.approvals.list(ApprovalFilter()):
                await asyncio.sleep(0.02)
        await suspend(a, scope="subject", value="agent-1", reason="held on the other replica")
        result = await asyncio.wait_for(held, 5)
    assert result.is_error and "held on the other replica" in result.content[0].text
    assert upstream_app.state.calls == []


async def test_sqlite_processes_sharing_a_file_see_a_suspension_within_a_second(
    echo_upstream: tuple[str, Starlette], policy_dir: Path, tmp_path: Path
) -> None:
    """Two gateways whose suspensions share one SQLite file (the approvals database), as two
    processes would: nothing pushes the change, the other one finds it by re-reading."""
    upstream, _ = echo_upstream
    shared = {"database": str(tmp_path / "shared.db")}
    async with (
        _replica(tmp_path / "a", policy_dir, upstream, str(tmp_path / "a.db"), approvals=shared) as a,
        _replica(tmp_path / "b", policy_dir, upstream, str(tmp_path / "b.db"), approvals=shared) as b,
        connect(b.mcp_url, b.token("agent-1")) as on_b,
    ):
        await suspend(a, scope="all", reason="stop the world")
        suspended_at = time.monotonic()
        async with asyncio.timeout(1.0):
            while not b.gateway.suspensions.active():
                await asyncio.sleep(0.01)
        assert time.monotonic() - suspended_at < 1.0
        refused = await on_b.call_tool("echo.echo", {"text": "x"})
        assert refused.is_error and "every agent is suspended" in refused.content[0].text
