"""The audit store contract, run on both backends: SQLite (a file in tmp_path) and
PostgreSQL (127.0.0.1:5432, database `test`, a fresh schema per test). The same AuditLog
sits on top; what differs is only the store the URL selects."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from gateway.audit import AuditLog, AuditUnavailable
from gateway.audit.chain import GENESIS_HASH, Sealed, body_of
from gateway.audit.checkpoint import Checkpoint, load_public_key
from gateway.audit.postgres_store import PostgresAuditStore, split_schema
from gateway.audit.proof import check_proof, prove
from gateway.audit.query import CallQuery
from gateway.audit.sqlite_store import SqliteAuditStore
from gateway.audit.store import AuditStore, StoreError
from gateway.audit.verify import verify
from gateway.config import AuditSettings
from tests.support.audit import make_keys, write_calls
from tests.support.stores import Backend, log_items, postgres_backend, sqlite_backend


@pytest.fixture
async def postgres() -> AsyncIterator[Backend]:
    async with postgres_backend() as backend:
        yield backend


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    if request.param == "sqlite":
        return sqlite_backend(tmp_path)
    return request.getfixturevalue("postgres")


async def _open(backend: Backend, **settings: Any) -> AuditLog:
    return await AuditLog.open(backend.settings(**settings))


async def test_url_selects_the_store(backend: Backend) -> None:
    log = await _open(backend)
    try:
        expected = PostgresAuditStore if backend.name == "postgres" else SqliteAuditStore
        assert isinstance(log.store, expected)
    finally:
        await log.close()


async def test_appends_are_chained_and_visible_to_another_connection(backend: Backend) -> None:
    log = await _open(backend)
    try:
        first = await log.append("gateway.started", {"version": "0.1.0", "config_digest": "ab"})
        second = await log.append("call.received", {"tool": "search", "amount": 12.5, "note": "é ✓"}, call_id="c1")
        # Durable on return: a separate store (another connection) already reads both.
        other = backend.store()
        await other.open()
        try:
            assert await other.records(0, 10) == [first, second]
        finally:
            await other.close()
    finally:
        await log.close()
    assert (first.seq, second.seq, first.prev_hash, second.prev_hash) == (1, 2, GENESIS_HASH, first.hash)
    for record in (first, second):
        assert record.hash == hashlib.sha256(body_of(record)).hexdigest()


async def test_reopened_log_continues_the_chain(backend: Backend) -> None:
    log = await _open(backend)
    first = await log.append("gateway.started", {})
    await log.close()
    log = await _open(backend)
    try:
        assert log.head.size == 1
        second = await log.append("gateway.stopped", {})
    finally:
        await log.close()
    assert (second.seq, second.prev_hash) == (2, first.hash)


class CountingStore:
    """The real store, counting its transactions."""

    def __init__(self, inner: AuditStore) -> None:
        self.inner = inner
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    async def write(
        self, records: Sequence[Sealed], checkpoint: Checkpoint | None, merkle_state: bytes | None = None
    ) -> None:
        self.transactions += 1
        await self.inner.write(records, checkpoint, merkle_state)


async def test_concurrent_appends_share_transactions(backend: Backend) -> None:
    store = CountingStore(backend.store())
    log = await AuditLog.open(backend.settings(), store=store)  # type: ignore[arg-type]

    async def writer(i: int) -> list[int]:
        return [(await log.append("call.completed", {"status": "ok", "i": i}, call_id=f"c{i}")).seq for _ in range(5)]

    try:
        seqs = await asyncio.gather(*(writer(i) for i in range(64)))
    finally:
        await log.close()
    assert sorted(s for per_writer in seqs for s in per_writer) == list(range(1, 321))
    assert all(per_writer == sorted(per_writer) for per_writer in seqs)
    assert store.transactions <= 320 // 4


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET body = body",
        "DELETE FROM audit_records WHERE seq = 1",
        "INSERT INTO audit_records (seq, hash, body) VALUES (7, 'x', '{}')",
        "INSERT INTO audit_records (seq, hash, body) VALUES (1, 'x', '{}')",
        "DELETE FROM audit_checkpoints",
        "INSERT INTO audit_checkpoints (size, body) VALUES (1, '{}')",
    ],
)
async def test_the_database_refuses_edits_behind_the_logs_back(
    backend: Backend, statement: str, tmp_path: Path
) -> None:
    private, _ = make_keys(tmp_path)
    log = await _open(backend, signing_key_file=str(private), checkpoint_every_records=2)
    try:
        await log.append("gateway.started", {})
        await log.append("gateway.stopped", {})
        await log.append("gateway.started", {})
    finally:
        await log.close()
    with pytest.raises((sqlite3.DatabaseError, asyncpg.PostgresError), match=r"append-only|UNIQUE|duplicate"):
        await backend.raw(statement)


async def test_truncate_is_refused_in_postgresql(postgres: Backend) -> None:
    log = await _open(postgres)
    await log.append("gateway.started", {})
    await log.close()
    for table in ("audit_records", "audit_checkpoints"):
        with pytest.raises(asyncpg.PostgresError, match="append-only"):
            await postgres.raw(f"TRUNCATE {table}")


async def test_queries_answer_the_auditors_questions(backend: Backend) -> None:
    log = await _open(backend)
    try:
        await write_calls(log, 6)
        await log.append("call.received", {"principal": {"subject": "agent-x"}, "connector": "sap",
                                           "tool": "release", "trace_id": "t-held"}, call_id="held")  # fmt: skip
        await log.append("call.decided", {"effect": "approve"}, call_id="held")
        await log.append("approval.voted", {"approver": "carol", "approve": True}, call_id="held")
        store = log.store
        everything = await store.records(0, 1000)

        async def calls(**filters: Any) -> list[str]:
            return await store.find_calls(CallQuery(**filters))

        assert await calls() == [f"call-{i}" for i in range(6)] + ["held"]
        assert await calls(agent="agent-x") == ["call-0", "call-2", "call-4", "held"]
        assert await calls(connector="oracle") == ["call-0", "call-3"]
        assert await calls(agent="agent-x", connector="sap", tool="search_orders") == ["call-2", "call-4"]
        assert await calls(outcome="deny") == ["call-4"]
        assert await calls(outcome="rejected") == ["call-4"]
        assert await calls(outcome="ok") == ["call-0", "call-1", "call-2", "call-3", "call-5"]
        assert await calls(approver="carol") == ["held"]
        assert await calls(trace_id=f"{3:032x}") == ["call-3"]
        assert await calls(limit=2) == ["call-0", "call-1"]
        received = {r.call_id: r for r in everything if r.kind == "call.received"}
        assert await calls(after_seq=received["call-4"].seq - 1, limit=1) == ["call-4"]
        assert await calls(since=received["call-4"].ts, until=received["call-5"].ts) == ["call-4"]
        assert await calls(since=0, until=1) == []
        assert await store.trace_calls("t-held") == ["held"]
        held = await store.call_records(["held", "call-1"])
        assert [r.kind for r in held if r.call_id == "held"] == ["call.received", "call.decided", "approval.voted"]
        assert [r.seq for r in held] == sorted(r.seq for r in held)
        assert await store.call_records([]) == []
        assert await store.latest(2) == everything[-2:]
        assert await store.record(3) == everything[2]
        assert await store.record(10_000) is None
        assert await store.records(5, 2) == everything[5:7]
        assert [h.hex() for h in await store.record_hashes(0, 4)] == [r.hash for r in everything[:4]]
        assert [h.hex() for h in await store.record_hashes(4, 6)] == [r.hash for r in everything[4:6]]
    finally:
        await log.close()


async def test_signed_checkpoints_verify_and_prove(backend: Backend, tmp_path: Path) -> None:
    private, public = make_keys(tmp_path)
    log = await _open(backend, signing_key_file=str(private), checkpoint_every_records=5,
                      checkpoint_every_seconds=3600)  # fmt: skip
    try:
        await write_calls(log, 3)
    finally:
        await log.close()
    store = backend.store()
    await store.open()
    try:
        checkpoints = await store.checkpoints()
        head = await store.head()
        # Every 5 records, and a final one at close.
        assert [cp.size for cp in checkpoints] == [*range(5, head.size, 5), head.size]
        report = verify(await log_items(store), load_public_key(public))
        assert report.ok, report.problems
        assert (report.records, report.signed_size) == (head.size, head.size)
        assert check_proof(await prove(store, 3), load_public_key(public)).seq == 3
    finally:
        await store.close()


async def test_a_closed_or_unreachable_store_fails_closed(backend: Backend) -> None:
    log = await _open(backend)
    assert await log.healthy()
    await log.close()
    assert not await log.healthy()
    with pytest.raises(AuditUnavailable, match="closed"):
        await log.append("gateway.stopped", {})
    with pytest.raises(StoreError):
        await log.store.ping()


def test_postgres_url_schema_is_checked_and_passwords_are_not_shown() -> None:
    assert split_schema("postgresql://u:pw@h:5432/db?schema=gw_1&sslmode=disable") == (
        "postgresql://u:pw@h:5432/db?sslmode=disable",
        "gw_1",
    )
    with pytest.raises(StoreError, match="schema"):
        split_schema("postgresql://h/db?schema=Robert'); DROP TABLE x;--")
    assert "pw" not in repr(PostgresAuditStore("postgresql://u:pw@h/db"))


async def test_an_unreachable_postgres_names_the_server_not_the_password() -> None:
    settings = AuditSettings(database="postgresql://gw:s3cret@127.0.0.1:1/gateway")
    with pytest.raises(AuditUnavailable, match=r"127\.0\.0\.1:1") as caught:
        await AuditLog.open(settings)
    assert "s3cret" not in str(caught.value)
