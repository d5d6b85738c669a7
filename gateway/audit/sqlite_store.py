"""The audit log in SQLite: every SQL statement the audit package runs is in this module.

The record body (canonical JSON) is the only stored truth: the indexed columns are
generated from it and other search fields are read from it at query time, so nothing a
search looks at can disagree with what the hash covers. (Each generated column costs
every insert a JSON parse, so only the three that indexes need exist.) Triggers refuse
UPDATE and DELETE, and an INSERT trigger accepts only the next sequence number, which
also defeats `INSERT OR REPLACE` / upserts (REPLACE deletes without firing DELETE
triggers unless recursive_triggers is on).
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import aiosqlite

from gateway.audit.chain import GENESIS_HASH, Sealed, parse
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.query import CallQuery
from gateway.audit.store import Head, StoreError
from gateway.models import AuditRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit_records (
    seq INTEGER PRIMARY KEY,
    hash TEXT NOT NULL,
    body TEXT NOT NULL,
    ts REAL GENERATED ALWAYS AS (json_extract(body, '$.ts')) VIRTUAL,
    kind TEXT GENERATED ALWAYS AS (json_extract(body, '$.kind')) VIRTUAL,
    call_id TEXT GENERATED ALWAYS AS (json_extract(body, '$.call_id')) VIRTUAL
);
CREATE INDEX IF NOT EXISTS audit_records_call ON audit_records (call_id);
CREATE INDEX IF NOT EXISTS audit_records_received ON audit_records (ts) WHERE kind = 'call.received';
CREATE TRIGGER IF NOT EXISTS audit_records_no_update BEFORE UPDATE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_no_delete BEFORE DELETE ON audit_records
BEGIN SELECT RAISE(ABORT, 'audit records are append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_records_append_only BEFORE INSERT ON audit_records
WHEN NEW.seq IS NOT (SELECT COALESCE(MAX(seq), 0) + 1 FROM audit_records)
BEGIN SELECT RAISE(ABORT, 'audit records are append-only: only the next seq may be inserted'); END;
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    size INTEGER PRIMARY KEY,
    body TEXT NOT NULL,
    merkle_state BLOB
);
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_update BEFORE UPDATE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: UPDATE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_no_delete BEFORE DELETE ON audit_checkpoints
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: DELETE refused'); END;
CREATE TRIGGER IF NOT EXISTS audit_checkpoints_append_only BEFORE INSERT ON audit_checkpoints
WHEN NEW.size <= (SELECT COALESCE(MAX(size), 0) FROM audit_checkpoints)
  OR NEW.size > (SELECT COALESCE(MAX(seq), 0) FROM audit_records)
BEGIN SELECT RAISE(ABORT, 'audit checkpoints are append-only: only a larger size may be inserted'); END;
"""

_INSERT_RECORDS = "INSERT INTO audit_records (seq, hash, body) VALUES "
_INSERT_CHECKPOINT = "INSERT INTO audit_checkpoints (size, body, merkle_state) VALUES (?, ?, ?)"
_HEAD = "SELECT seq, hash FROM audit_records ORDER BY seq DESC LIMIT 1"
_HASHES = "SELECT hash FROM audit_records WHERE seq > ? AND seq <= ? ORDER BY seq"
_MERKLE_STATE = "SELECT size, merkle_state FROM audit_checkpoints ORDER BY size DESC LIMIT 1"
_ROWS = "SELECT seq, hash, body FROM audit_records"
#: A call's outcome is its decided effect, its completion status, or `rejected`.
_OUTCOME_IS = """(CASE o.kind
    WHEN 'call.decided' THEN json_extract(o.body, '$.data.effect')
    WHEN 'call.completed' THEN json_extract(o.body, '$.data.status')
    WHEN 'call.rejected' THEN 'rejected' END) = ?"""
_APPROVER_IS = "o.kind = 'approval.voted' AND json_extract(o.body, '$.data.approver') = ?"
_CHECKPOINTS = "SELECT body FROM audit_checkpoints ORDER BY size"


def _insert_records(count: int) -> str:
    """One INSERT of `count` rows: a single statement is atomic, and in autocommit mode it
    is committed (and, with synchronous FULL, fsynced) before it returns."""
    return _INSERT_RECORDS + ",".join(["(?, ?, ?)"] * count)


def _connect_read_only(path: Path) -> sqlite3.Connection:
    if not path.is_file():
        raise StoreError(f"no audit database at {path}")
    try:
        db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open audit database {path}: {exc}") from None
    db.text_factory = bytes
    return db


class SqliteAuditStore:
    """AuditStore on one SQLite file: one writer connection, one for queries."""

    def __init__(self, path: Path, *, busy_timeout: float = 5.0, create: bool = True) -> None:
        self.path = path
        self._busy_timeout_ms = int(busy_timeout * 1000)
        self._create = create
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None

    async def open(self) -> Head:
        if not self._create and not self.path.is_file():
            raise StoreError(f"no audit database at {self.path}")
        try:
            if self._create:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._writer = await self._connect()
                await self._writer.execute("PRAGMA journal_mode = WAL")
                await self._writer.executescript(_SCHEMA)
            self._reader = await self._connect()
            self._reader.text_factory = bytes
            return await self.head()
        except (OSError, sqlite3.Error) as exc:
            await self.close()
            raise StoreError(f"cannot open audit database {self.path}: {exc}") from None

    async def _connect(self) -> aiosqlite.Connection:
        # Autocommit: a group commit is one INSERT statement, its own transaction, so it costs
        # one trip to the connection's thread (each trip wakes that thread and then the event
        # loop: dear on this project's machines, bench/cost.py).
        db = await aiosqlite.connect(self.path, isolation_level=None)
        # FULL: the WAL is fsynced at every commit, so an acknowledged record survives a crash.
        await db.execute("PRAGMA synchronous = FULL")
        await db.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms}")
        # 64 MiB of page cache: index pages of a large log stay in memory between commits.
        await db.execute("PRAGMA cache_size = -65536")
        return db

    async def close(self) -> None:
        for db in (self._writer, self._reader):
            if db is not None:
                with contextlib.suppress(sqlite3.Error, ValueError):
                    await db.close()
        self._writer = self._reader = None

    def _need(self, db: aiosqlite.Connection | None) -> aiosqlite.Connection:
        if db is None:
            raise StoreError(f"audit database {self.path} is not open")
        return db

    async def ping(self) -> None:
        try:
            await (await self._need(self._reader).execute("SELECT 1")).close()
        except (sqlite3.Error, ValueError) as exc:
            raise StoreError(f"audit database {self.path} does not answer: {exc}") from None

    @contextlib.asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        # One gateway process owns the file's writer connection: no other writer to hold off.
        yield None

    async def write(
        self, records: Sequence[Sealed], checkpoint: Checkpoint | None, merkle_state: bytes | None = None
    ) -> None:
        db = self._need(self._writer)
        rows = [value for r in records for value in (r.seq, r.hash, r.body.decode())]
        try:
            if checkpoint is None:
                if records:
                    await db.execute(_insert_records(len(records)), rows)
                return
            # Rare (a checkpoint every N records or seconds): records and checkpoint in one transaction.
            await db.execute("BEGIN IMMEDIATE")
            if records:
                await db.execute(_insert_records(len(records)), rows)
            await db.execute(_INSERT_CHECKPOINT, (checkpoint.size, checkpoint.encode().decode(), merkle_state))
            await db.commit()
        except (sqlite3.Error, ValueError) as exc:
            # Fails only if no transaction was open or the connection is gone: nothing was written.
            with contextlib.suppress(sqlite3.Error, ValueError):
                await db.rollback()
            raise StoreError(f"audit database {self.path}: {exc}") from None

    async def _fetch(self, sql: str, params: Sequence[object] = ()) -> list[tuple[Any, ...]]:
        try:
            async with self._need(self._reader).execute(sql, params) as cursor:
                return [tuple(row) for row in await cursor.fetchall()]
        except (sqlite3.Error, ValueError) as exc:
            raise StoreError(f"audit database {self.path}: {exc}") from None

    async def head(self) -> Head:
        rows = await self._fetch(_HEAD)
        return Head(rows[0][0], rows[0][1].decode()) if rows else Head(0, GENESIS_HASH)

    async def record_hashes(self, after: int, upto: int) -> list[bytes]:
        return [bytes.fromhex(h.decode()) for (h,) in await self._fetch(_HASHES, (after, upto))]

    async def merkle_state(self) -> tuple[int, bytes] | None:
        rows = await self._fetch(_MERKLE_STATE)
        return (rows[0][0], rows[0][1]) if rows and rows[0][1] is not None else None

    async def _records(self, where: str, params: Sequence[object]) -> list[AuditRecord]:
        return [parse(body, h.decode()) for _, h, body in await self._fetch(f"{_ROWS} {where}", params)]

    async def records(self, after_seq: int, limit: int) -> list[AuditRecord]:
        return await self._records("WHERE seq > ? ORDER BY seq LIMIT ?", (after_seq, limit))

    async def latest(self, limit: int) -> list[AuditRecord]:
        newest_first = await self._records("ORDER BY seq DESC LIMIT ?", (limit,))
        return newest_first[::-1]

    async def record(self, seq: int) -> AuditRecord | None:
        found = await self._records("WHERE seq = ?", (seq,))
        return found[0] if found else None

    async def find_calls(self, query: CallQuery) -> list[str]:
        where = ["r.kind = 'call.received'", "r.seq > ?"]
        params: list[object] = [query.after_seq]
        for field, value in (
            ("principal.subject", query.agent),
            ("connector", query.connector),
            ("tool", query.tool),
            ("trace_id", query.trace_id),
        ):
            if value is not None:
                where.append(f"json_extract(r.body, '$.data.{field}') = ?")
                params.append(value)
        if query.call_id is not None:
            where.append("r.call_id = ?")
            params.append(query.call_id)
        if query.since is not None:
            where.append("r.ts >= ?")
            params.append(query.since)
        if query.until is not None:
            where.append("r.ts < ?")
            params.append(query.until)
        for test, value in ((_OUTCOME_IS, query.outcome), (_APPROVER_IS, query.approver)):
            if value is not None:
                where.append(f"EXISTS (SELECT 1 FROM audit_records o WHERE o.call_id = r.call_id AND {test})")
                params.append(value)
        params.append(query.limit)
        order = "DESC" if query.newest_first else "ASC"
        sql = f"SELECT r.call_id FROM audit_records r WHERE {' AND '.join(where)} ORDER BY r.seq {order} LIMIT ?"
        return [c.decode() for (c,) in await self._fetch(sql, params)]

    async def trace_calls(self, trace_id: str) -> list[str]:
        # Through the receipts' index, not one on trace_id: that index cost a sixth of the
        # write throughput (bench/bench_audit.py), and only receipts carry a trace id.
        sql = (
            "SELECT call_id FROM audit_records WHERE kind = 'call.received' "
            "AND json_extract(body, '$.data.trace_id') = ? "
            "AND call_id IS NOT NULL ORDER BY seq"
        )
        return [c.decode() for (c,) in await self._fetch(sql, (trace_id,))]

    async def approval_calls(self, approval_id: str) -> list[str]:
        # A scan: only `audit show` asks, and an index would cost every append.
        sql = (
            "SELECT call_id FROM audit_records WHERE json_extract(body, '$.data.approval_id') = ? "
            "AND call_id IS NOT NULL GROUP BY call_id ORDER BY MIN(seq)"
        )
        return [c.decode() for (c,) in await self._fetch(sql, (approval_id,))]

    async def call_records(self, call_ids: Sequence[str]) -> list[AuditRecord]:
        if not call_ids:
            return []
        marks = ",".join("?" * len(call_ids))
        return await self._records(f"WHERE call_id IN ({marks}) ORDER BY seq", list(call_ids))

    async def checkpoints(self) -> list[Checkpoint]:
        return [Checkpoint.decode(body) for (body,) in await self._fetch(_CHECKPOINTS)]


# Offline readers: plain sqlite3, read-only, streaming, for verify/export/replay tools
# that may run on a copy of the database without an event loop.


def iter_sealed(path: Path) -> Iterator[Sealed]:
    """Every stored row in seq order, exactly as stored (nothing is checked here)."""
    db = _connect_read_only(path)
    try:
        for seq, h, body in db.execute(f"{_ROWS} ORDER BY seq"):
            yield Sealed(seq=seq, hash=h.decode(errors="replace"), body=body)
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read audit database {path}: {exc}") from None
    finally:
        db.close()


def read_records(path: str | Path) -> Iterator[AuditRecord]:
    """Every record of an audit database in order, parsed (raises MalformedRecord on garbage)."""
    for row in iter_sealed(Path(path)):
        yield parse(row.body, row.hash)


def read_checkpoint_rows(path: Path) -> list[bytes]:
    db = _connect_read_only(path)
    try:
        return [body for (body,) in db.execute(_CHECKPOINTS)]
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read audit database {path}: {exc}") from None
    finally:
        db.close()


def schema_drift(path: Path) -> list[str]:
    """How the database's audit schema differs from the one this module creates (tables,
    generated columns, indexes, append-only triggers): what an edit behind our back leaves."""
    expected_db = sqlite3.connect(":memory:")
    expected_db.executescript(_SCHEMA)
    catalogue = "SELECT type, name, sql FROM sqlite_master WHERE name LIKE 'audit\\_%' ESCAPE '\\'"
    expected = {(t, n): s for t, n, s in expected_db.execute(catalogue)}
    expected_db.close()
    db = _connect_read_only(path)
    try:
        db.text_factory = str
        actual = {(t, n): s for t, n, s in db.execute(catalogue)}
    except sqlite3.Error as exc:
        raise StoreError(f"cannot read audit database {path}: {exc}") from None
    finally:
        db.close()
    problems = [f"{t} {n} is missing" for (t, n) in expected if (t, n) not in actual]
    problems += [f"{t} {n} was altered" for (t, n), s in expected.items() if (t, n) in actual and actual[t, n] != s]
    problems += [f"{t} {n} was added" for (t, n) in actual if (t, n) not in expected]
    return problems


def missing_wal(path: Path) -> str | None:
    """A warning when `path` is in WAL mode with no -wal file beside it and its log does not
    end with a clean stop: what a copy of a running gateway's database looks like, whose
    newest records are still in the -wal file that was not copied. Call before opening
    the file (an open may create an empty -wal)."""
    wal = path.with_name(path.name + "-wal")
    try:
        with path.open("rb") as f:
            header = f.read(20)
    except OSError:
        return None
    # SQLite file header bytes 18 and 19 (write and read format) are 2 in WAL mode.
    if len(header) < 20 or header[18:20] != b"\x02\x02" or wal.exists():
        return None
    db = _connect_read_only(path)
    try:
        last = db.execute("SELECT json_extract(body, '$.kind') FROM audit_records ORDER BY seq DESC LIMIT 1").fetchone()
    except sqlite3.Error:
        last = None
    finally:
        db.close()
    if last is not None and last[0] == b"gateway.stopped":
        return None  # a clean stop checkpoints the WAL into the file and removes it
    return (
        f"no {wal.name} beside {path.name}: if this is a copy of a running gateway's database, its newest "
        f"records are in that file; copy both (or use `sqlite3 {path.name} .backup` or `gateway audit export`)"
    )


def iter_log(path: Path) -> Iterator[Sealed | Checkpoint]:
    """Records in order with each checkpoint right after the record it ends (verify's input)."""
    checkpoints = [Checkpoint.decode(body) for body in read_checkpoint_rows(path)]
    at = 0
    for row in iter_sealed(path):
        yield row
        while at < len(checkpoints) and checkpoints[at].size <= row.seq:
            yield checkpoints[at]
            at += 1
    yield from checkpoints[at:]
