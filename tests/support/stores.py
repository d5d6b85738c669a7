"""Audit store fixtures shared by the ops tests: SQLite in tmp_path, PostgreSQL in a fresh
schema of database `test` on 127.0.0.1:5432 (dropped afterwards); whether Redis is up."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis
from redis.exceptions import RedisError

from gateway.audit.chain import Sealed, body_of
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.postgres_store import PostgresAuditStore
from gateway.audit.sqlite_store import SqliteAuditStore
from gateway.audit.store import AuditStore
from gateway.config import AuditSettings
from tests.support.gateway import require_service

POSTGRES = "postgresql://127.0.0.1:5432/test"
REDIS = "redis://127.0.0.1:6379/0"
RUN = f"gw_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"


async def postgres_reachable() -> bool:
    try:
        conn = await asyncpg.connect(POSTGRES, timeout=2)
    except (OSError, asyncpg.PostgresError, TimeoutError):
        return False
    await conn.close()
    return True


async def redis_reachable() -> bool:
    client = aioredis.from_url(REDIS, socket_connect_timeout=1)
    try:
        return bool(await client.ping())
    except (RedisError, OSError):
        return False
    finally:
        await client.aclose()


@dataclass
class Backend:
    name: str
    database: str
    #: Runs plain SQL behind the store's back (to prove the guards are in the database).
    raw: Callable[[str], Awaitable[None]]

    def settings(self, **overrides: Any) -> AuditSettings:
        return AuditSettings(database=self.database, **overrides)

    def store(self) -> AuditStore:
        if self.name == "postgres":
            return PostgresAuditStore(self.database)
        return SqliteAuditStore(Path(self.database))


def sqlite_backend(tmp_path: Path) -> Backend:
    db = tmp_path / "audit.db"

    async def raw_sqlite(sql: str) -> None:
        with sqlite3.connect(db) as conn:
            conn.execute(sql)

    return Backend("sqlite", str(db), raw_sqlite)


@contextlib.asynccontextmanager
async def postgres_backend() -> AsyncIterator[Backend]:
    """A fresh schema in database `test` (skips, or fails in CI, when PostgreSQL is absent)."""
    require_service("PostgreSQL on 127.0.0.1:5432 (database test)", await postgres_reachable())
    schema = f"{RUN}_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)

    async def raw_postgres(sql: str) -> None:
        await admin.execute(f'SET search_path = "{schema}"; {sql}')

    try:
        yield Backend("postgres", f"{POSTGRES}?schema={schema}", raw_postgres)
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


async def log_items(store: AuditStore) -> list[Sealed | Checkpoint]:
    """What `verify` reads: records in order, each checkpoint after the record it ends."""
    records = await store.records(0, 1_000_000)
    checkpoints = await store.checkpoints()
    items: list[Sealed | Checkpoint] = []
    for record in records:
        items.append(Sealed(record.seq, record.hash, body_of(record)))
        items += [cp for cp in checkpoints if cp.size == record.seq]
    return items
