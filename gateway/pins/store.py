"""The pins: one row per tool definition seen, approved, pending or superseded. `PinStore`
is what the gate needs of a store; SQLite (here) is the default, PostgreSQL
(gateway.pins.postgres_store) is shared by replicas."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from gateway.config import ConfigError

SCHEMA = """
CREATE TABLE IF NOT EXISTS tool_pins (
    connector  TEXT NOT NULL,
    tool       TEXT NOT NULL,
    digest     TEXT NOT NULL,
    definition TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('approved', 'pending', 'superseded')),
    seen_at    REAL NOT NULL,
    decided_by TEXT,
    decided_at REAL,
    findings   TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (connector, tool, digest)
)
"""


@dataclass(frozen=True, slots=True)
class Pin:
    connector: str
    tool: str
    digest: str
    definition: dict[str, Any]
    state: str
    seen_at: float
    decided_by: str | None
    decided_at: float | None
    findings: dict[str, Any]


class PinStore(Protocol):
    async def approved(self, connector: str) -> dict[str, str]:
        """Tool name -> approved digest."""
        ...

    async def get(self, connector: str, tool: str, digest: str) -> Pin | None: ...

    async def pending(self) -> list[Pin]:
        """Definitions waiting for review, oldest first."""
        ...

    async def add(self, pin: Pin) -> bool:
        """Store a definition seen for the first time; False when it is known already."""
        ...

    async def approve(self, connector: str, tool: str, digest: str, reviewer: str) -> str | None:
        """Make `digest` the approved definition; returns the digest it replaces (None: first)."""
        ...


class SQLitePinStore:
    """Pins in one SQLite file, for one gateway: an approval another process writes into the
    file takes effect at this gateway's next read of the connector's tools, not at once
    (PostgreSQL pushes it)."""

    def __init__(self, path: Path) -> None:
        """Open (creating) the pins table; ConfigError naming the file when it cannot be."""
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with self._connect() as db:
                db.execute(SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"catalog.database: cannot open the pins database {path}: {exc}") from None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10.0)
        db.row_factory = sqlite3.Row
        return db

    async def _run(self, sql: str, *params: Any) -> list[sqlite3.Row]:
        def work() -> list[sqlite3.Row]:
            with self._connect() as db:
                return db.execute(sql, params).fetchall()

        return await asyncio.to_thread(work)

    async def approved(self, connector: str) -> dict[str, str]:
        """Tool name -> approved digest."""
        rows = await self._run(
            "SELECT tool, digest FROM tool_pins WHERE connector = ? AND state = 'approved'", connector
        )
        return {row["tool"]: row["digest"] for row in rows}

    async def get(self, connector: str, tool: str, digest: str) -> Pin | None:
        rows = await self._run(
            "SELECT * FROM tool_pins WHERE connector = ? AND tool = ? AND digest = ?", connector, tool, digest
        )
        return pin_of(rows[0]) if rows else None

    async def pending(self) -> list[Pin]:
        return [pin_of(r) for r in await self._run("SELECT * FROM tool_pins WHERE state = 'pending' ORDER BY seen_at")]

    async def add(self, pin: Pin) -> bool:
        """Store a definition seen for the first time; False when it is known already."""
        rows = await self._run(
            "INSERT INTO tool_pins VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING digest",
            pin.connector, pin.tool, pin.digest, json.dumps(pin.definition), pin.state, pin.seen_at,
            pin.decided_by, pin.decided_at, json.dumps(pin.findings),
        )  # fmt: skip
        return bool(rows)

    async def approve(self, connector: str, tool: str, digest: str, reviewer: str) -> str | None:
        """Make `digest` the approved definition; returns the digest it replaces (None: first)."""

        def work() -> str | None:
            with self._connect() as db:
                row = db.execute(
                    "SELECT digest FROM tool_pins WHERE connector = ? AND tool = ? AND state = 'approved'",
                    (connector, tool),
                ).fetchone()
                db.execute(
                    "UPDATE tool_pins SET state = 'superseded' WHERE connector = ? AND tool = ? AND state = 'approved'",
                    (connector, tool),
                )
                db.execute(
                    "UPDATE tool_pins SET state = 'approved', decided_by = ?, decided_at = ? "
                    "WHERE connector = ? AND tool = ? AND digest = ?",
                    (reviewer, time.time(), connector, tool, digest),
                )
                return str(row["digest"]) if row else None

        return await asyncio.to_thread(work)


class Row(Protocol):
    """A row by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str) -> Any: ...


def pin_of(row: Row) -> Pin:
    return Pin(
        connector=row["connector"],
        tool=row["tool"],
        digest=row["digest"],
        definition=json.loads(row["definition"]),
        state=row["state"],
        seen_at=row["seen_at"],
        decided_by=row["decided_by"],
        decided_at=row["decided_at"],
        findings=json.loads(row["findings"]),
    )
