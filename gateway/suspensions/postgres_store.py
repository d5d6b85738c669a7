"""Suspensions in PostgreSQL, shared by every replica: each committed change sends a
NOTIFY, and every replica LISTENs on one dedicated connection and re-reads the active
suspensions when one arrives, so a suspension made anywhere stops calls everywhere
within the notification's round trip. A lost listener is reconnected, and the service
re-reads after that (changes sent while nobody listened are not lost).

URL: as the approvals store's (`postgresql://...?schema=NAME`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

import asyncpg

from gateway.audit.postgres_store import redacted_url, split_schema
from gateway.audit.store import StoreError
from gateway.pg_listener import PG_ERRORS, Listener, channel_for, close_pool, pooled
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
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('agent-gateway suspensions schema ' || $1, 0))"


class PostgresSuspensionStore:
    pushes_changes = True

    def __init__(self, url: str) -> None:
        self._url, schema = split_schema(url)
        self._settings = {"search_path": schema} if schema else {}
        self._schema = schema
        self._channel = channel_for("agent_gateway_suspensions", schema)
        self._where = redacted_url(self._url) + (f" (schema {schema})" if schema else "")
        self._pool: asyncpg.Pool | None = None
        self._listeners: list[Callable[[], None]] = []
        # After a reconnection the service re-reads: changes made meanwhile sent no notification.
        self._listener = Listener(
            self._url,
            self._settings,
            self._channel,
            what="suspensions",
            where=self._where,
            on_notify=lambda payload: self._changed(),
            on_restored=self._changed,
        )

    @classmethod
    async def open(cls, url: str) -> PostgresSuspensionStore:
        try:
            store = cls(url)
        except StoreError as exc:
            raise SuspensionError("invalid", str(exc).replace("audit.database", "approvals.database")) from None
        try:
            store._pool = await asyncpg.create_pool(
                store._url, min_size=1, max_size=2, timeout=10, server_settings=store._settings
            )
            async with store._pool.acquire() as conn, conn.transaction():
                await conn.execute(_SCHEMA_LOCK, store._schema or "")
                if store._schema:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{store._schema}"')
                await conn.execute(_SCHEMA)
            await store._listener.start()
        except (*PG_ERRORS, ValueError) as exc:
            await store.close()
            raise SuspensionError("unavailable", f"cannot open suspensions database {store._where}: {exc}") from None
        return store

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
            await conn.execute("SELECT pg_notify($1, $2)", self._channel, suspension.suspension_id)

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
            await conn.execute("SELECT pg_notify($1, $2)", self._channel, suspension_id)
        return after

    async def close(self) -> None:
        await self._listener.close()
        pool, self._pool = self._pool, None
        await close_pool(pool)

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()

    # -- helpers -------------------------------------------------------------------------

    async def _select(self, tail: str, *params: Any) -> list[Suspension]:
        async with self._connection() as conn:
            return [decode(r[0]) for r in await conn.fetch(f"SELECT body FROM suspensions {tail}", *params)]

    def _connection(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        return pooled(
            self._pool, f"suspensions database {self._where}", lambda why: SuspensionError("unavailable", why)
        )

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection() as conn, conn.transaction():
            yield conn
