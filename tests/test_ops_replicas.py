"""Several replicas on one PostgreSQL: concurrent writers keep one audit chain that verifies,
from two AuditLogs up to two whole gateways serving calls at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.audit import AuditLog
from gateway.audit.checkpoint import load_public_key
from gateway.audit.verify import verify
from gateway.mcp_client import connect
from gateway.serving import running
from tests.audit_helpers import make_keys
from tests.conftest import RunningGateway, gateway_config
from tests.ops_store_helpers import Backend, log_items, postgres_backend


@pytest.fixture
async def postgres() -> AsyncIterator[Backend]:
    async with postgres_backend() as backend:
        yield backend


async def test_two_writers_on_one_database_keep_one_chain(postgres: Backend, tmp_path: Path) -> None:
    private, public = make_keys(tmp_path)
    settings = postgres.settings(signing_key_file=str(private), checkpoint_every_records=25)
    replicas = [await AuditLog.open(settings), await AuditLog.open(settings)]

    async def agent(log: AuditLog, name: str) -> list:
        return [await log.append("call.completed", {"agent": name, "i": i}, call_id=f"{name}-{i}") for i in range(20)]

    try:
        written = await asyncio.gather(*(agent(replicas[n % 2], f"a{n}") for n in range(8)))
    finally:
        for log in replicas:
            await log.close()
    async with contextlib.AsyncExitStack() as stack:
        store = postgres.store()
        await store.open()
        stack.push_async_callback(store.close)
        stored = await store.records(0, 10_000)
        report = verify(await log_items(store), load_public_key(public))
    assert report.ok, report.problems
    assert [r.seq for r in stored] == list(range(1, 161))
    # What each append returned is exactly what is stored at its place in the chain.
    by_seq = {r.seq: r for r in stored}
    assert all(by_seq[r.seq] == r for per_agent in written for r in per_agent)
    # Each agent's records stay in its own order.
    assert all([r.seq for r in per_agent] == sorted(r.seq for r in per_agent) for per_agent in written)
    assert report.signed_size == 160


@contextlib.asynccontextmanager
async def _replica(tmp_path: Path, policy_dir: Path, upstream: str, database: str) -> AsyncIterator[RunningGateway]:
    connectors = {"echo": {"kind": "mcp", "url": upstream, "timeout_seconds": 5}}
    config = gateway_config(tmp_path, policy_dir, connectors, audit={"database": database})
    app = create_app(config)
    async with running(app) as url:
        yield RunningGateway(url, app, config)


async def test_two_gateways_serving_at_once_write_one_chain(
    postgres: Backend, echo_upstream: tuple[str, Starlette], policy_dir: Path, tmp_path: Path
) -> None:
    upstream, _ = echo_upstream

    async def agent(gw: RunningGateway, name: str) -> None:
        async with connect(gw.mcp_url, gw.token(name)) as client:
            for i in range(10):
                result = await client.call_tool("echo.echo", {"text": f"{name} {i}"})
                assert not result.is_error

    async with (
        _replica(tmp_path / "a", policy_dir, upstream, postgres.database) as a,
        _replica(tmp_path / "b", policy_dir, upstream, postgres.database) as b,
    ):
        await asyncio.gather(*(agent((a, b)[n % 2], f"agent-{n}") for n in range(6)))
    store = postgres.store()
    await store.open()
    try:
        records = await store.records(0, 10_000)
        report = verify(await log_items(store), None)
    finally:
        await store.close()
    assert report.ok, report.problems
    kinds = Counter(r.kind for r in records)
    assert kinds["gateway.started"] == kinds["gateway.stopped"] == 2
    assert kinds["call.received"] == kinds["call.completed"] == 60
    # Every call's four records are in order, whichever replica wrote them.
    by_call: dict[str, list[str]] = {}
    for record in records:
        if record.call_id:
            by_call.setdefault(record.call_id, []).append(record.kind)
    assert set(map(tuple, by_call.values())) == {("call.received", "call.decided", "call.forwarded", "call.completed")}
    assert len(by_call) == 60
