from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import pytest
import rfc8785

from gateway.audit import AuditLog, AuditUnavailable, read_records
from gateway.audit.chain import GENESIS_HASH, Sealed
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.sqlite_store import SqliteAuditStore
from gateway.config import AuditSettings


def _canonical_record(record) -> bytes:
    fields = {
        "call_id": record.call_id,
        "data": record.data,
        "kind": record.kind,
        "prev_hash": record.prev_hash,
        "seq": record.seq,
        "ts": record.ts,
    }
    return rfc8785.dumps(json.loads(json.dumps(fields)))


async def test_appends_are_chained_and_durable_on_return(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    log = await AuditLog.open(AuditSettings(database=str(db)))
    try:
        first = await log.append("gateway.started", {"version": "0.1.0", "config_digest": "ab"})
        second = await log.append("call.received", {"tool": "search", "amount": 12.5}, call_id="c1")
        # Durable on return: another connection, outside the writer, already sees both.
        with sqlite3.connect(db) as other:
            assert other.execute("SELECT count(*) FROM audit_records").fetchone() == (2,)
    finally:
        await log.close()
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS_HASH
    assert second.prev_hash == first.hash
    # The hash is SHA-256 of the RFC 8785 encoding of the record, as docs/audit.md says.
    for record in (first, second):
        assert record.hash == hashlib.sha256(_canonical_record(record)).hexdigest()
    assert list(read_records(db)) == [first, second]


async def test_reopened_log_continues_the_chain(tmp_path: Path) -> None:
    settings = AuditSettings(database=str(tmp_path / "audit.db"))
    log = await AuditLog.open(settings)
    first = await log.append("gateway.started", {})
    await log.close()
    log = await AuditLog.open(settings)
    second = await log.append("gateway.stopped", {})
    await log.close()
    assert second.seq == 2
    assert second.prev_hash == first.hash


class CountingStore(SqliteAuditStore):
    """The real store, counting its transactions."""

    transactions = 0

    async def write(
        self, records: Sequence[Sealed], checkpoint: Checkpoint | None, merkle_state: bytes | None = None
    ) -> None:
        self.transactions += 1
        await super().write(records, checkpoint, merkle_state)


async def test_concurrent_appends_share_transactions(tmp_path: Path) -> None:
    store = CountingStore(tmp_path / "audit.db")
    log = await AuditLog.open(AuditSettings(database=str(store.path)), store=store)

    async def writer(i: int) -> list[int]:
        return [(await log.append("call.completed", {"status": "ok", "i": i}, call_id=f"c{i}")).seq for _ in range(5)]

    try:
        seqs = await asyncio.gather(*(writer(i) for i in range(64)))
    finally:
        await log.close()
    assert sorted(s for per_writer in seqs for s in per_writer) == list(range(1, 321))
    # Each writer's records are in its own order; the 64 writers shared commits.
    assert all(per_writer == sorted(per_writer) for per_writer in seqs)
    assert store.transactions <= 320 // 4


async def test_non_json_data_is_refused_and_leaves_the_chain_intact(tmp_path: Path) -> None:
    log = await AuditLog.open(AuditSettings(database=str(tmp_path / "audit.db")))
    try:
        with pytest.raises(ValueError, match="not JSON"):
            await log.append("call.completed", {"latency_ms": float("nan")})
        with pytest.raises(ValueError, match="not JSON"):
            await log.append("call.completed", {"result": object()})
        record = await log.append("call.completed", {"status": "ok"})
    finally:
        await log.close()
    assert record.seq == 1


async def test_append_after_close_is_refused(tmp_path: Path) -> None:
    log = await AuditLog.open(AuditSettings(database=str(tmp_path / "audit.db")))
    assert await log.healthy()
    await log.close()
    assert not await log.healthy()
    with pytest.raises(AuditUnavailable, match="closed"):
        await log.append("gateway.stopped", {})


async def test_unreadable_signing_key_fails_open(tmp_path: Path) -> None:
    (tmp_path / "key.pem").write_text("not a key")
    settings = AuditSettings(database=str(tmp_path / "audit.db"), signing_key_file=str(tmp_path / "key.pem"))
    with pytest.raises(AuditUnavailable, match="signing_key_file"):
        await AuditLog.open(settings)


async def test_relative_paths_resolve_against_base_dir(tmp_path: Path) -> None:
    log = await AuditLog.open(AuditSettings(database="var/audit.db"), base_dir=tmp_path)
    await log.append("gateway.started", {})
    await log.close()
    assert [r.kind for r in read_records(tmp_path / "var" / "audit.db")] == ["gateway.started"]


async def test_checkpoints_are_signed_by_count_by_time_and_at_close(tmp_path: Path) -> None:
    from tests.support.audit import make_keys

    private, _ = make_keys(tmp_path)
    settings = AuditSettings(
        database=str(tmp_path / "audit.db"),
        signing_key_file=str(private),
        checkpoint_every_records=3,
        checkpoint_every_seconds=0.2,
    )
    log = await AuditLog.open(settings)
    try:
        for i in range(4):
            await log.append("call.completed", {"i": i})
        assert [cp.size for cp in await log.store.checkpoints()] == [3]
        await asyncio.sleep(0.5)  # record 4 waits for the timer
        assert [cp.size for cp in await log.store.checkpoints()] == [3, 4]
        await log.append("call.completed", {"i": 4})
    finally:
        await log.close()
    store = SqliteAuditStore(tmp_path / "audit.db", create=False)
    await store.open()
    try:
        assert [cp.size for cp in await store.checkpoints()] == [3, 4, 5]
    finally:
        await store.close()


@pytest.mark.parametrize("saved_state", ["kept", "garbled", "wrong"])
def test_a_reopened_signed_log_keeps_signing_correct_roots(tmp_path: Path, saved_state: str) -> None:
    """Reopening resumes the Merkle tree from the state saved with the last checkpoint, and
    falls back to rereading every hash when that (unsigned) state is not the signed one."""
    from tests.support.audit import build_log, cli, make_keys, tamper

    private, public = make_keys(tmp_path)
    db = build_log(tmp_path, private, calls=3, every=4)
    if saved_state == "garbled":
        tamper(db, "UPDATE audit_checkpoints SET merkle_state = x'00'")
    elif saved_state == "wrong":
        tamper(db, "UPDATE audit_checkpoints SET merkle_state = randomblob(length(merkle_state))")
    build_log(tmp_path, private, calls=3, every=4)  # reopens the same database and appends
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 0, result.output
    assert "signed up to 24" in result.output


class HashReadingStore:
    """A real store, noting which record hashes it was asked for."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.ranges: list[tuple[int, int]] = []

    def __getattr__(self, name: str):
        return getattr(self.inner, name)

    async def record_hashes(self, after: int, upto: int) -> list[bytes]:
        self.ranges.append((after, upto))
        return await self.inner.record_hashes(after, upto)


@pytest.mark.parametrize("backend_name", ["sqlite", "postgres"])
async def test_reopening_reads_only_the_hashes_after_the_last_checkpoint(tmp_path: Path, backend_name: str) -> None:
    from tests.support.audit import make_keys
    from tests.support.stores import postgres_backend, sqlite_backend

    private, _ = make_keys(tmp_path)
    async with contextlib.AsyncExitStack() as stack:
        if backend_name == "postgres":
            backend = await stack.enter_async_context(postgres_backend())
        else:
            backend = sqlite_backend(tmp_path)
        settings = backend.settings(signing_key_file=str(private), checkpoint_every_records=10)
        log = await AuditLog.open(settings)
        for i in range(25):
            await log.append("call.completed", {"i": i})
        await log.store.close()  # as in a crash: no final checkpoint, records 21..25 stay unsigned
        await log.close()
        store = HashReadingStore(backend.store())
        reopened = await AuditLog.open(settings, store=store)
        record = await reopened.append("call.completed", {"i": 25})
        await reopened.close()
        assert store.ranges == [(20, 25)]
        assert record.seq == 26
