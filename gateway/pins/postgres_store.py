"""Pins in PostgreSQL, shared by every replica: a definition quarantined on one replica waits
in the one review list, and an approval made on any replica is pushed to the others. Each
approval commits with a NOTIFY naming the connector; every replica LISTENs on one dedicated
connection and hands the connector to `on_change`, which re-reads that connector's tools
(the runtime publishes `ToolsChanged`). After a lost listener reconnects, `on_change(None)`:
approvals made meanwhile sent no notification, so every pinned connector is re-read.

URL: as the audit store's (`postgresql://...?schema=NAME`); the table goes into that schema.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable

from gateway.pg_store import Refusal, SharedPostgresStore
from gateway.pins.gate import PinError
from gateway.pins.store import SCHEMA, Pin, pin_of

#: The SQLite table with PostgreSQL's float type, and an index for the review list.
_SCHEMA = SCHEMA.replace("REAL", "DOUBLE PRECISION") + (
    ";\nCREATE INDEX IF NOT EXISTS tool_pins_by_state ON tool_pins (state, connector);"
)
_APPROVED = "SELECT tool, digest FROM tool_pins WHERE connector = $1 AND state = 'approved'"
_GET = "SELECT * FROM tool_pins WHERE connector = $1 AND tool = $2 AND digest = $3"
_PENDING = "SELECT * FROM tool_pins WHERE state = 'pending' ORDER BY seen_at"
_ADD = "INSERT INTO tool_pins VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT DO NOTHING RETURNING digest"
#: Two reviewers approving versions of one tool at once take turns: one approved row at a time.
_LOCK_TOOL = "SELECT digest, state FROM tool_pins WHERE connector = $1 AND tool = $2 FOR UPDATE"
_SUPERSEDE = "UPDATE tool_pins SET state = 'superseded' WHERE connector = $1 AND tool = $2 AND state = 'approved'"
_APPROVE = (
    "UPDATE tool_pins SET state = 'approved', decided_by = $4, decided_at = $5"
    " WHERE connector = $1 AND tool = $2 AND digest = $3"
)

#: The connector whose approved definitions changed; None: any may have (re-read them all).
OnChange = Callable[[str | None], None]


class PostgresPinStore(SharedPostgresStore):
    what = "pins"
    config_key = "catalog.database"
    tables = _SCHEMA

    def __init__(self, url: str, on_change: OnChange) -> None:
        self._on_change = on_change
        #: This replica, as the sender of its notifications (it refreshed its own catalog already).
        self._key = secrets.token_hex(8)
        super().__init__(url, on_notify=self._notified, on_restored=lambda: on_change(None))

    @classmethod
    async def open(cls, url: str, on_change: OnChange) -> PostgresPinStore:
        """Connect, create the table and listen; PinError (503) naming the database when it cannot."""
        store = cls(url, on_change)
        await store._open()
        return store

    @classmethod
    def refusal(cls, why: Refusal, message: str) -> PinError:
        return PinError(400 if why == "invalid" else 503, message)

    def _notified(self, payload: str) -> None:
        sender, _, connector = payload.partition(":")
        if sender != self._key:
            self._on_change(connector)

    async def approved(self, connector: str) -> dict[str, str]:
        async with self._connection() as conn:
            return {row["tool"]: row["digest"] for row in await conn.fetch(_APPROVED, connector)}

    async def get(self, connector: str, tool: str, digest: str) -> Pin | None:
        async with self._connection() as conn:
            row = await conn.fetchrow(_GET, connector, tool, digest)
        return pin_of(row) if row is not None else None

    async def pending(self) -> list[Pin]:
        async with self._connection() as conn:
            return [pin_of(row) for row in await conn.fetch(_PENDING)]

    async def add(self, pin: Pin) -> bool:
        async with self._connection() as conn:
            added = await conn.fetchval(
                _ADD, pin.connector, pin.tool, pin.digest, json.dumps(pin.definition), pin.state, pin.seen_at,
                pin.decided_by, pin.decided_at, json.dumps(pin.findings),
            )  # fmt: skip
        return added is not None

    async def approve(self, connector: str, tool: str, digest: str, reviewer: str) -> str | None:
        async with self._transaction() as conn:
            rows = await conn.fetch(_LOCK_TOOL, connector, tool)
            replaced = next((row["digest"] for row in rows if row["state"] == "approved"), None)
            await conn.execute(_SUPERSEDE, connector, tool)
            await conn.execute(_APPROVE, connector, tool, digest, reviewer, time.time())
            # Delivered on commit to every replica listening: they re-read this connector's tools.
            await self._notify(conn, f"{self._key}:{connector}")
        return str(replaced) if replaced is not None else None
