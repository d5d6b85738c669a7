"""What every PostgreSQL store that gateway replicas share has in common (approvals,
suspensions, tool pins): a URL with an optional `?schema=NAME`, a small pool, the store's
tables made under a lock when it opens, and one connection LISTENing on the store's
channel (`gateway.pg_listener`), so a change committed on one replica reaches the others.

A store subclasses `SharedPostgresStore`, names itself and its tables in class
attributes, says which of its own errors refuses a bad URL or an unreachable database
(`refusal`), and keeps its SQL and what it does with a notification to itself.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import ClassVar, Literal

import asyncpg

from gateway.audit.postgres_store import ensure_schema, redacted_url, split_schema
from gateway.errors import StoreError
from gateway.pg_listener import PG_ERRORS, Listener, OnConnection, channel_for, close_pool, pooled

#: Why a store refuses: its URL is wrong, or its database cannot be used.
Refusal = Literal["invalid", "unavailable"]

#: Replicas starting together must not race on CREATE ... IF NOT EXISTS.
_SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('agent-gateway ' || $1 || ' schema ' || $2, 0))"
_NOTIFY = "SELECT pg_notify($1, $2)"


class SharedPostgresStore:
    #: The store's name: in its messages ("the approvals database"), its channel and its lock.
    what: ClassVar[str]
    #: The config key that names its database, in front of the errors about it.
    config_key: ClassVar[str]
    #: The statements that create its tables and indexes (idempotent).
    tables: ClassVar[str]
    max_connections: ClassVar[int] = 2

    def __init__(
        self,
        url: str,
        *,
        on_notify: Callable[[str], None],
        on_restored: Callable[[], None],
        prepare: OnConnection | None = None,
        release: OnConnection | None = None,
    ) -> None:
        """`on_notify(payload)`: another replica's (or this one's) NOTIFY; `on_restored()`:
        the listener reconnected, notifications sent meanwhile are lost. `prepare` runs on
        each new listening connection, `release` on it just before the store closes."""
        try:
            self._url, self._schema = split_schema(url)
        except StoreError as exc:
            raise self.refusal("invalid", str(exc).replace("audit.database", self.config_key)) from None
        self._settings = {"search_path": self._schema} if self._schema else {}
        self._channel = channel_for(f"agent_gateway_{self.what}", self._schema)
        self._where = redacted_url(self._url) + (f" (schema {self._schema})" if self._schema else "")
        self._release = release
        self._pool: asyncpg.Pool | None = None
        self._listener = Listener(
            self._url,
            self._settings,
            self._channel,
            what=self.what,
            where=self._where,
            on_notify=on_notify,
            on_restored=on_restored,
            prepare=prepare,
        )

    @classmethod
    def refusal(cls, why: Refusal, message: str) -> Exception:
        """The store's own error for `why` (each store has its error type)."""
        raise NotImplementedError

    async def _open(self) -> None:
        """Connect, create the tables and listen; the `unavailable` refusal naming the
        database when that cannot be done."""
        try:
            self._pool = await asyncpg.create_pool(
                self._url, min_size=1, max_size=self.max_connections, timeout=10, server_settings=self._settings
            )
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(_SCHEMA_LOCK, self.what, self._schema or "")
                if self._schema:
                    await ensure_schema(conn, self._schema)
                await conn.execute(self.tables)
                await self._upgrade(conn)
            await self._listener.start()
        except (*PG_ERRORS, ValueError) as exc:
            await self.close()
            message = f"{self.config_key}: cannot open the {self.what} database {self._where}: {exc}"
            raise self.refusal("unavailable", message) from None

    async def _upgrade(self, conn: asyncpg.Connection) -> None:
        """Bring tables made by an earlier version up to date (inside the schema lock)."""

    async def close(self) -> None:
        await self._listener.close(last=self._release)
        pool, self._pool = self._pool, None
        await close_pool(pool)

    async def _notify(self, conn: asyncpg.Connection, payload: str) -> None:
        # Delivered when the transaction commits, to every replica listening (this one too).
        await conn.execute(_NOTIFY, self._channel, payload)

    def _connection(self) -> contextlib.AbstractAsyncContextManager[asyncpg.Connection]:
        return pooled(self._pool, f"{self.what} database {self._where}", lambda why: self.refusal("unavailable", why))

    @contextlib.asynccontextmanager
    async def _transaction(self) -> AsyncIterator[asyncpg.Connection]:
        async with self._connection() as conn, conn.transaction():
            yield conn
