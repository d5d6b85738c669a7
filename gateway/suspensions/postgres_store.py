"""Suspensions in PostgreSQL, shared by every replica: each committed change sends a
NOTIFY, and every replica LISTENs on one dedicated connection and re-reads the active
suspensions when one arrives, so a suspension made anywhere stops calls everywhere
within the notification's round trip. A lost listener is reconnected, and the service
re-reads after that (changes sent while nobody listened are not lost).

URL: as the approvals store's (`postgresql://...?schema=NAME`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from gateway.pg_store import Refusal, SharedPostgresStore
from gateway.suspensions.model import Suspension, SuspensionError
from gateway.suspensions.store import BeforeCommit, Change, decode, encode

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS suspensions (
    suspension_id TEXT PRIMARY KEY,
    active BOOLEAN NOT NULL,
    suspended_at DOUBLE PRECISION NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS suspensions_active ON suspensions (active, suspended_at);
"""


class PostgresSuspensionStore(SharedPostgresStore):
    what = "suspensions"
    # They live in the approvals database.
    config_key = "approvals.database"
    tables = _SCHEMA
    pushes_changes = True

    def __init__(self, url: str) -> None:
        self._listeners: list[Callable[[], None]] = []
        # After a reconnection the service re-reads: changes made meanwhile sent no notification.
        super().__init__(url, on_notify=lambda payload: self._changed(), on_restored=self._changed)

    @classmethod
    async def open(cls, url: str) -> PostgresSuspensionStore:
        store = cls(url)
        await store._open()
        return store

    @classmethod
    def refusal(cls, why: Refusal, message: str) -> SuspensionError:
        return SuspensionError(why, message)

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def active(self) -> list[Suspension]:
        return await self._select("WHERE active ORDER BY suspended_at")

    async def history(self, limit: int) -> list[Suspension]:
        return await self._select("ORDER BY suspended_at DESC LIMIT $1", limit)

    async def insert(self, suspension: Suspension, before_commit: BeforeCommit) -> None:
        async with self._transaction() as conn:
            await before_commit(suspension)
            await conn.execute(
                "INSERT INTO suspensions (suspension_id, active, suspended_at, body) VALUES ($1, $2, $3, $4)",
                suspension.suspension_id,
                suspension.active,
                suspension.suspended_at,
                encode(suspension),
            )
            await self._notify(conn, suspension.suspension_id)

    async def update(self, suspension_id: str, change: Change, before_commit: BeforeCommit) -> Suspension:
        async with self._transaction() as conn:
            body = await conn.fetchval(
                "SELECT body FROM suspensions WHERE suspension_id = $1 FOR UPDATE", suspension_id
            )
            if body is None:
                raise SuspensionError("not_found", f"no suspension with id {suspension_id!r}")
            after = change(decode(body))
            await before_commit(after)
            await conn.execute(
                "UPDATE suspensions SET active = $2, body = $3 WHERE suspension_id = $1",
                suspension_id,
                after.active,
                encode(after),
            )
            await self._notify(conn, suspension_id)
        return after

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- helpers -------------------------------------------------------------------------

    async def _select(self, tail: str, *params: Any) -> list[Suspension]:
        async with self._connection() as conn:
            return [decode(r[0]) for r in await conn.fetch(f"SELECT body FROM suspensions {tail}", *params)]
