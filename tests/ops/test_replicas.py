"""Several replicas on one PostgreSQL: concurrent writers keep one audit chain that verifies,
from two AuditLogs up to two whole gateways serving calls at once; a call held on one
replica is released by an approval given on the other, and executes exactly once."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from starlette.applications import Starlette

from gateway.app import create_app
from gateway.approvals import ApprovalError, ApprovalFilter, ApprovalService, ApprovalSettings
from gateway.audit import AuditLog
from gateway.audit.checkpoint import load_public_key
from gateway.audit.verify import verify
from gateway.mcp.client import connect
from gateway.metrics import Metrics
from gateway.serving import running
from tests.support.approvals import RecordingAudit, approver, digest, make_call, needs_approval
from tests.support.audit import make_keys
from tests.support.gateway import RunningGateway, gateway_config
from tests.support.stores import POSTGRES, Backend, log_items, postgres_backend


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
async def _replica(
    tmp_path: Path, policy_dir: Path, upstream: str, database: str, **sections: Any
) -> AsyncIterator[RunningGateway]:
    connectors = {"echo": {"kind": "mcp", "url": upstream, "timeout_seconds": 5}}
    config = gateway_config(tmp_path, policy_dir, connectors, audit={"database": database}, **sections)
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
    records = await _verified_log(postgres)
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


ARGS = {"a": 1000, "b": 101}
#: Long enough that a release before it can only come from the wake-up, never the hold ending.
HOLD = {"max_hold_seconds": 60}


@pytest.fixture
def approve_rule(policy_dir: Path) -> None:
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\n# Large sums need one approver.\np, tester, *, echo.add, approve, r.args.a > 100, 1 approver 1h\n")


@contextlib.asynccontextmanager
async def _two_replicas(
    tmp_path: Path, policy_dir: Path, upstream: str, database: str
) -> AsyncIterator[tuple[RunningGateway, RunningGateway]]:
    async with (
        _replica(tmp_path / "a", policy_dir, upstream, database, approvals=HOLD) as a,
        _replica(tmp_path / "b", policy_dir, upstream, database, approvals=HOLD) as b,
    ):
        yield a, b


async def _pending(gw: RunningGateway) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {gw.token('alice', ('approver',))}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers) as http:
        return (await http.get("/v1/approvals")).json()["approvals"]


async def _approve(gw: RunningGateway) -> str:
    """Approve, through `gw`'s REST API, the one pending approval (waiting for it to appear)."""
    async with asyncio.timeout(10):
        while not (pending := await _pending(gw)):
            await asyncio.sleep(0.02)
    assert len(pending) == 1, pending
    approval_id = pending[0]["approval_id"]
    headers = {"Authorization": f"Bearer {gw.token('alice', ('approver',))}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers) as http:
        response = await http.post(f"/v1/approvals/{approval_id}/approve", json={"comment": "ok"})
    assert response.status_code == 200, response.text
    return approval_id


async def _verified_log(postgres: Backend) -> list[Any]:
    store = postgres.store()
    await store.open()
    try:
        records = await store.records(0, 10_000)
        report = verify(await log_items(store), None)
    finally:
        await store.close()
    assert report.ok, report.problems
    return records


@pytest.mark.usefixtures("approve_rule")
async def test_a_call_held_on_one_replica_is_released_by_an_approval_on_the_other(
    postgres: Backend, echo_upstream: tuple[str, Starlette], policy_dir: Path, tmp_path: Path
) -> None:
    upstream, upstream_app = echo_upstream
    async with (
        _two_replicas(tmp_path, policy_dir, upstream, postgres.database) as (a, b),
        connect(a.mcp_url, a.token()) as client,
    ):
        held = asyncio.create_task(client.call_tool("echo.add", ARGS))
        approval_id = await _approve(b)
        # Well inside the 60 s hold: only B's NOTIFY can have woken A.
        result = await asyncio.wait_for(held, 10)
    assert not result.is_error, result
    assert result.content[0].text == "1101"
    assert [c["tool"] for c in upstream_app.state.calls] == ["add"]
    records = await _verified_log(postgres)
    approval_kinds = [r.kind for r in records if r.data.get("approval_id") == approval_id]
    assert approval_kinds == [
        "approval.requested",
        "approval.voted",
        "approval.decided",
        "call.decided",  # decided again at execution, naming the approval
        "call.forwarded",
        "call.completed",
    ]
    assert Counter(r.kind for r in records)["call.completed"] == 1


@pytest.mark.usefixtures("approve_rule")
async def test_concurrent_retries_on_both_replicas_execute_once(
    postgres: Backend, echo_upstream: tuple[str, Starlette], policy_dir: Path, tmp_path: Path
) -> None:
    upstream, upstream_app = echo_upstream
    async with (
        _two_replicas(tmp_path, policy_dir, upstream, postgres.database) as (a, b),
        connect(a.mcp_url, a.token()) as on_a,
        connect(b.mcp_url, b.token()) as on_b,
    ):
        retries = [asyncio.create_task(client.call_tool("echo.add", ARGS)) for client in (on_a, on_b) * 4]
        await asyncio.sleep(0.3)  # let every retry join the one approval before it is decided
        await _approve(b)
        results = await asyncio.wait_for(asyncio.gather(*retries), 10)
        later = [await on_a.call_tool("echo.add", ARGS), await on_b.call_tool("echo.add", ARGS)]
    assert [r.content[0].text for r in [*results, *later]] == ["1101"] * 10
    assert len(upstream_app.state.calls) == 1, "an approved call executes exactly once across replicas"
    records = await _verified_log(postgres)
    assert Counter(r.kind for r in records)["approval.requested"] == 1


async def test_the_execution_claim_is_atomic_across_replicas(postgres: Backend) -> None:
    settings = ApprovalSettings(database=postgres.database, max_hold_seconds=5)
    services = [await ApprovalService.open(settings, RecordingAudit()) for _ in range(2)]
    try:
        call = make_call()
        first = await services[0].hold(call, needs_approval(1), digest(call), wait_seconds=0)
        await services[1].vote(first.approval.approval_id, approver("alice"), True, "")
        outcomes = await asyncio.gather(
            *(
                services[n % 2].hold(make_call(call.arguments), needs_approval(1), digest(call), wait_seconds=0)
                for n in range(20)
            )
        )
        assert sorted(o.action for o in outcomes) == ["execute"] + ["pending"] * 19
    finally:
        for service in services:
            await service.close()


@pytest.mark.parametrize(
    ("database", "message"),
    [
        (
            "postgresql://127.0.0.1:5432/test?schema=Bad-Name",
            "approvals.database: schema must be one lower-case SQL name, got ['Bad-Name']",
        ),
        (
            "postgresql://127.0.0.1:1/test",
            "approvals.database: cannot open the approvals database postgresql://127.0.0.1:1/test: ",
        ),
    ],
)
async def test_a_bad_approvals_database_is_one_clear_error(database: str, message: str) -> None:
    with pytest.raises(ApprovalError) as err:
        await ApprovalService.open(ApprovalSettings(database=database), RecordingAudit())
    assert str(err.value).startswith(message), str(err.value)


async def test_a_replica_whose_listener_is_cut_reconnects_and_still_wakes(postgres: Backend) -> None:
    settings = ApprovalSettings(database=postgres.database, max_hold_seconds=30)
    a, b = [await ApprovalService.open(settings, RecordingAudit()) for _ in range(2)]
    admin = await asyncpg.connect(POSTGRES)
    try:
        call = make_call()
        held = asyncio.create_task(a.hold(call, needs_approval(1), digest(call), wait_seconds=30))
        async with asyncio.timeout(5):
            while not (pending := await b.list(ApprovalFilter())):
                await asyncio.sleep(0.02)
        # The listening connections are the sessions whose last statement was LISTEN; only
        # this test's schema appears in the channel name.
        channel = hashlib.sha256(postgres.database.rpartition("schema=")[2].encode()).hexdigest()[:16]
        cut = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE query LIKE 'LISTEN %' || $1 || '%'",
            channel,
        )
        assert cut == 2
        await b.vote(pending[0].approval.approval_id, approver("alice"), True, "")
        # Far inside the 30 s hold: the reconnected listener (or the wake-all after it) woke it.
        outcome = await asyncio.wait_for(held, 10)
        assert outcome.action == "execute"
    finally:
        await admin.close()
        for service in (a, b):
            await service.close()


async def test_every_replica_reports_the_shared_pending_count(postgres: Backend) -> None:
    """An approval opened on one replica and decided on the other moves both gauges the
    same way: each reports the store's count, not its own increments."""
    settings = ApprovalSettings(database=postgres.database, max_hold_seconds=5)
    gauges = [Metrics(), Metrics()]
    a, b = [await ApprovalService.open(settings, RecordingAudit(), metrics=m.approvals) for m in gauges]

    async def both_report(count: int) -> None:
        async with asyncio.timeout(5):
            while [m.approvals.pending._value.get() for m in gauges] != [count, count]:
                await asyncio.sleep(0.02)

    try:
        call = make_call()
        held = await a.hold(call, needs_approval(1), digest(call), wait_seconds=0)
        await both_report(1)
        await b.vote(held.approval.approval_id, approver("alice"), True, "")
        await both_report(0)
    finally:
        await a.close()
        await b.close()
