"""A PostgreSQL connection that LISTENs on one channel for as long as its store is open.

The stores that replicas share (`gateway.pg_store`) wake the other replicas with NOTIFY.
A lost connection is restored with backoff; notifications sent while nobody listened are
gone, so `on_restored` runs after each reconnection and the store's users re-read what
they watch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

#: What a lost or unreachable database raises.
PG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)
#: Longest pause between attempts to restore a lost connection.
MAX_RELISTEN_DELAY = 5.0

OnConnection = Callable[[asyncpg.Connection], Awaitable[Any]]


def channel_for(name: str, schema: str | None) -> str:
    """The NOTIFY channel of a store: channels are per database, so one per schema keeps
    separate gateways sharing a database apart."""
    return name + (f"_{hashlib.sha256(schema.encode()).hexdigest()[:16]}" if schema else "")


async def close_pool(pool: asyncpg.Pool | None) -> None:
    """Close a store's pool, cutting its connections when the database does not answer in time."""
    if pool is None:
        return
    try:
        async with asyncio.timeout(5):
            await pool.close()
    except PG_ERRORS:
        pool.terminate()


@contextlib.asynccontextmanager
async def pooled(
    pool: asyncpg.Pool | None, where: str, unavailable: Callable[[str], Exception]
) -> AsyncIterator[asyncpg.Connection]:
    """A connection of a store's pool; `unavailable(why)` is raised when the pool is closed
    or the database fails, so each store keeps its own error type."""
    if pool is None:
        raise unavailable(f"{where} is not open")
    try:
        async with pool.acquire() as conn:
            yield conn
    except PG_ERRORS as exc:
        raise unavailable(f"{where}: {exc}") from None


class Listener:
    def __init__(
        self,
        url: str,
        server_settings: dict[str, str],
        channel: str,
        *,
        what: str,
        where: str,
        on_notify: Callable[[str], None],
        on_restored: Callable[[], None],
        prepare: OnConnection | None = None,
    ) -> None:
        """`prepare` runs on each new connection before it listens (the approvals store
        takes its replica's advisory lock there)."""
        self._url = url
        self._server_settings = server_settings
        self._channel = channel
        self._what = what
        self._where = where
        self._on_notify = on_notify
        self._on_restored = on_restored
        self._prepare = prepare
        self._connection: asyncpg.Connection | None = None
        self._relisten: asyncio.Task[None] | None = None
        self._closing = False

    async def start(self) -> None:
        await self._listen()

    async def close(self, last: OnConnection | None = None) -> None:
        """Stop listening; `last` runs on the connection just before it closes."""
        self._closing = True
        if self._relisten is not None:
            self._relisten.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relisten
        connection, self._connection = self._connection, None
        if connection is None:
            return
        if last is not None:
            with contextlib.suppress(*PG_ERRORS):
                await last(connection)
        with contextlib.suppress(*PG_ERRORS):
            await connection.close(timeout=5)

    async def _listen(self) -> None:
        conn = await asyncpg.connect(self._url, timeout=10, server_settings=self._server_settings)
        try:
            if self._prepare is not None:
                await self._prepare(conn)
            await conn.add_listener(self._channel, self._notified)
        except BaseException:
            await conn.close()
            raise
        conn.add_termination_listener(self._lost)
        self._connection = conn

    def _notified(self, conn: object, pid: int, channel: str, payload: str) -> None:
        self._on_notify(payload)

    def _lost(self, conn: object) -> None:
        if self._closing or conn is not self._connection:
            return
        log.warning("%s listener connection to %s lost; reconnecting", self._what, self._where)
        self._connection = None
        self._relisten = asyncio.create_task(self._restore(), name=f"{self._what}-relisten")

    async def _restore(self) -> None:
        delay = 0.1
        while True:
            try:
                await self._listen()
            except PG_ERRORS as exc:
                log.warning("%s listener: cannot reconnect to %s: %s", self._what, self._where, exc)
                await asyncio.sleep(delay)
                delay = min(MAX_RELISTEN_DELAY, delay * 2)
                continue
            self._on_restored()
            log.info("%s listener reconnected to %s", self._what, self._where)
            return
