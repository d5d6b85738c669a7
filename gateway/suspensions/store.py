"""Persisted suspensions: the store interface and its SQLite implementation. The rows
live beside the approvals (same database), one JSON body per suspension.

Several gateway processes may share one SQLite file; they learn of each other's changes
by re-reading the active suspensions every `poll_seconds` (the service does that). The
PostgreSQL store (postgres_store.py) pushes changes with LISTEN/NOTIFY instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

import aiosqlite

from gateway.suspensions.model import Suspension, SuspensionError

#: Runs with the change known and not yet committed (the audit append): raising aborts it.
BeforeCommit = Callable[[Suspension], Awaitable[None]]
Change = Callable[[Suspension], Suspension]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS suspensions (
    suspension_id TEXT PRIMARY KEY,
    active INTEGER NOT NULL,
    suspended_at REAL NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS suspensions_active ON suspensions (active, suspended_at);
"""


class SuspensionStore(Protocol):
    #: True when other replicas' changes arrive by themselves (no polling needed).
    pushes_changes: bool

    def on_change(self, listener: Callable[[], None]) -> None: ...

    async def active(self) -> list[Suspension]: ...

    async def history(self, limit: int) -> list[Suspension]: ...

    async def insert(self, suspension: Suspension, before_commit: BeforeCommit) -> None: ...

    async def update(self, suspension_id: str, change: Change, before_commit: BeforeCommit) -> Suspension: ...

    async def close(self) -> None: ...


def encode(suspension: Suspension) -> str:
    return json.dumps(suspension.to_json(), sort_keys=True)


def decode(body: str) -> Suspension:
    return Suspension.from_json(json.loads(body))


class SQLiteSuspensionStore:
    pushes_changes = False

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteSuspensionStore:
        try:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            conn = await aiosqlite.connect(path, isolation_level=None)
        except (aiosqlite.Error, OSError) as exc:
            raise SuspensionError("unavailable", f"cannot open suspensions database {path}: {exc}") from None
        try:
            await conn.execute("PRAGMA busy_timeout=5000")
            await conn.execute("PRAGMA journal_mode=WAL")
            await conn.executescript(_SCHEMA)
        except aiosqlite.Error as exc:
            await conn.close()
            raise SuspensionError("unavailable", f"cannot open suspensions database {path}: {exc}") from None
        return cls(conn)

    def on_change(self, listener: Callable[[], None]) -> None:
        """Changes by other processes are found by polling; nothing pushes them here."""

    async def active(self) -> list[Suspension]:
        return await self._select("WHERE active = 1 ORDER BY suspended_at", ())

    async def history(self, limit: int) -> list[Suspension]:
        return await self._select("ORDER BY suspended_at DESC LIMIT ?", (limit,))

    async def insert(self, suspension: Suspension, before_commit: BeforeCommit) -> None:
        async with self._transaction():
            await before_commit(suspension)
            await self._conn.execute(
                "INSERT INTO suspensions (suspension_id, active, suspended_at, body) VALUES (?, ?, ?, ?)",
                (suspension.suspension_id, int(suspension.active), suspension.suspended_at, encode(suspension)),
            )

    async def update(self, suspension_id: str, change: Change, before_commit: BeforeCommit) -> Suspension:
        async with self._transaction():
            rows = await self._select("WHERE suspension_id = ?", (suspension_id,))
            if not rows:
                raise SuspensionError("not_found", f"no suspension with id {suspension_id!r}")
            after = change(rows[0])
            await before_commit(after)
            await self._conn.execute(
                "UPDATE suspensions SET active = ?, body = ? WHERE suspension_id = ?",
                (int(after.active), encode(after), suspension_id),
            )
        return after

    async def close(self) -> None:
        await self._conn.close()

    async def _select(self, tail: str, params: tuple[object, ...]) -> list[Suspension]:
        try:
            async with self._conn.execute(f"SELECT body FROM suspensions {tail}", params) as cursor:
                return [decode(row[0]) for row in await cursor.fetchall()]
        except aiosqlite.Error as exc:
            raise SuspensionError("unavailable", f"suspensions database: {exc}") from None

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[None]:
        """One writer of this process at a time. No SQL transaction spans the audit append:
        the audit log may live in this same file, and its writer must not wait on ours."""
        async with self._lock:
            try:
                yield
            except aiosqlite.Error as exc:
                raise SuspensionError("unavailable", f"suspensions database: {exc}") from None
