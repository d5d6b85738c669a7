"""Approvals in PostgreSQL (asyncpg): every SQL statement of the PostgreSQL approvals store
is in this module. Several gateway replicas share the tables:

- a transition locks the approval's row (`FOR UPDATE`) from reading it to the commit, and
  opening an approval takes a transaction lock on its binding, so replicas take turns;
- the execution claim is one conditional UPDATE: exactly one replica's caller wins it;
- each committed change sends `NOTIFY` with the approval id; every replica LISTENs on one
  dedicated connection and wakes the calls it holds for that id (no polling);
- that connection holds a session advisory lock on the replica's random key, which its
  claims record: a claim whose key nobody holds any more belongs to a replica that stopped,
  so a starting replica settles it as interrupted without touching live replicas' claims.

URL: as the audit store's (`postgresql://...?schema=NAME`); the tables go into that schema.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import secrets
from collections.abc import Callable
from typing import Any

import asyncpg

from gateway.approvals.codec import result_to_json, voter_to_json
from gateway.approvals.errors import ApprovalError
from gateway.approvals.signals import Signals
from gateway.approvals.store import (
    COLUMN_COUNT,
    COLUMNS,
    KEEP_RESULT,
    LIVE_FOR_BINDING,
    STATES,
    ApprovalFilter,
    BeforeCommit,
    Opening,
    PendingCapReached,
    StoredApproval,
    approvals_schema,
    filter_sql,
    order_sql,
    row_values,
    select_sql,
    stored_approvals,
)
from gateway.audit.postgres_store import is_postgres_url
from gateway.models import Approval, ApprovalState, ToolResult
from gateway.pg_store import Refusal, SharedPostgresStore

__all__ = ["PostgresApprovalStore", "is_postgres_url"]

log = logging.getLogger(__name__)

_SCHEMA = approvals_schema(postgres=True)
#: Tables made by earlier versions: the reason and voter columns, and the 'superseded' state.
_MIGRATE = f"""
ALTER TABLE approvals ADD COLUMN IF NOT EXISTS reason TEXT;
ALTER TABLE approval_votes ADD COLUMN IF NOT EXISTS voter TEXT;
ALTER TABLE approvals DROP CONSTRAINT IF EXISTS approvals_state_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_state_check CHECK (state IN ({STATES}));
"""
_STATE_CHECK = (
    "SELECT pg_get_constraintdef(oid) FROM pg_constraint"
    " WHERE conname = 'approvals_state_check' AND conrelid = 'approvals'::regclass"
)

#: Two replicas opening an approval for one call must not both insert it.
_BINDING_LOCK = "SELECT pg_advisory_xact_lock(hashtextextended('agent-gateway approval ' || $1, 0))"
_ROW_LOCK = "SELECT 1 FROM approvals WHERE approval_id = $1 FOR UPDATE"
_INSERT = f"INSERT INTO approvals ({COLUMNS}) VALUES ({', '.join(f'${i}' for i in range(1, COLUMN_COUNT + 1))})"
_INSERT_VOTE = (
    "INSERT INTO approval_votes (approval_id, approver, approve, comment, at, voter) VALUES ($1, $2, $3, $4, $5, $6)"
)
_PENDING_OF = (
    "SELECT count(*) FROM approvals WHERE state = 'pending' AND (principal::jsonb ->> 'issuer') IS NOT DISTINCT FROM $1"
    " AND (principal::jsonb ->> 'tenant') IS NOT DISTINCT FROM $2 AND (principal::jsonb ->> 'subject') = $3"
)
_UPDATE_STATE = "UPDATE approvals SET state = $2, decided_at = $3 WHERE approval_id = $1"
_CLAIM = (
    "UPDATE approvals SET execution = 'claimed', claimed_by = $2"
    " WHERE approval_id = $1 AND state = 'approved' AND execution = 'none'"
)
_LIVE = f"WHERE {LIVE_FOR_BINDING.format(p='$')} ORDER BY requested_at DESC LIMIT 1"
_SAVE_RESULT = "UPDATE approvals SET execution = 'done', result = $2 WHERE approval_id = $1 AND execution = 'claimed'"
_CLAIMERS = "SELECT DISTINCT claimed_by FROM approvals WHERE execution = 'claimed'"
#: Succeeds only when no live replica's listener holds the key (released with this transaction).
_CLAIMER_GONE = "SELECT pg_try_advisory_xact_lock($1)"
_SETTLE = (
    "UPDATE approvals SET execution = 'done', result = $1"
    " WHERE execution = 'claimed' AND claimed_by = ANY($2::bigint[]) RETURNING approval_id"
)
_COUNT_PENDING = "SELECT count(*) FROM approvals WHERE state = 'pending'"
_NEXT_EXPIRY = "SELECT min(expires_at) FROM approvals WHERE state = 'pending'"
_DUE = "SELECT approval_id FROM approvals WHERE state = 'pending' AND expires_at <= $1"
_HOLD_KEY = "SELECT pg_advisory_lock($1)"
_RELEASE_KEY = "SELECT pg_advisory_unlock_all()"


class PostgresApprovalStore(SharedPostgresStore):
    """The approvals store on PostgreSQL; changes made by other replicas reach `signals`."""

    what = "approvals"
    config_key = "approvals.database"
    tables = _SCHEMA
    max_connections = 4

    def __init__(self, url: str, signals: Signals) -> None:
        self._signals = signals
        #: This replica: the sender of its notifications and the owner of its claims.
        self._key = secrets.randbits(63)
        # Changes made while nobody listened sent no wake-up: after a reconnection every
        # waiter re-reads. Releasing the key at close lets a replica starting next settle
        # this one's claims at once.
        super().__init__(
            url,
            on_notify=self._notified,
            on_restored=signals.notify_all,
            prepare=lambda conn: conn.execute(_HOLD_KEY, self._key),
            release=lambda conn: conn.execute(_RELEASE_KEY),
        )

    @classmethod
    async def open(cls, url: str, signals: Signals) -> PostgresApprovalStore:
        store = cls(url, signals)
        await store._open()
        return store

    @classmethod
    def refusal(cls, why: Refusal, message: str) -> ApprovalError:
        return ApprovalError(why, message)

    async def _upgrade(self, conn: asyncpg.Connection) -> None:
        if "'superseded'" not in (await conn.fetchval(_STATE_CHECK) or ""):
            await conn.execute(_MIGRATE)

    def _notified(self, payload: str) -> None:
        sender, _, approval_id = payload.partition(":")
        if sender != str(self._key):  # this replica already woke its own waiters
            self._signals.notify(approval_id)

    # -- reads ---------------------------------------------------------------------------

    async def get(self, approval_id: str) -> StoredApproval | None:
        async with self._connection() as conn:
            rows = await _select(conn, "WHERE approval_id = $1", approval_id)
        return rows[0] if rows else None

    async def list(self, query: ApprovalFilter) -> builtins.list[StoredApproval]:
        params: builtins.list[Any] = []
        where = filter_sql(query, _pg_param(params), _pg_json)
        tail = f"{where}{order_sql(query)} LIMIT {_pg_param(params)(query.limit)}"
        async with self._connection() as conn:
            return await _select(conn, tail, *params, order=order_sql(query))

    async def count(self, query: ApprovalFilter) -> int:
        params: builtins.list[Any] = []
        where = filter_sql(dataclasses.replace(query, after=None), _pg_param(params), _pg_json)
        async with self._connection() as conn:
            return int(await conn.fetchval(f"SELECT count(*) FROM approvals {where}", *params))

    async def count_pending(self) -> int:
        async with self._connection() as conn:
            return int(await conn.fetchval(_COUNT_PENDING))

    async def next_expiry(self) -> float | None:
        async with self._connection() as conn:
            earliest: float | None = await conn.fetchval(_NEXT_EXPIRY)
            return earliest

    async def due(self, now: float) -> builtins.list[str]:
        async with self._connection() as conn:
            return [r[0] for r in await conn.fetch(_DUE, now)]

    async def live(self, binding: str, since: float) -> StoredApproval | None:
        """The approval join_or_create would join for `binding`, or None."""
        async with self._connection() as conn:
            rows = await _select(conn, _LIVE, binding, since)
        return rows[0] if rows else None

    # -- writes --------------------------------------------------------------------------

    async def join_or_create(self, opening: Opening) -> tuple[StoredApproval, bool]:
        binding, candidate, kept = opening.binding, opening.candidate, opening.kept
        async with self._transaction() as conn:
            await conn.execute(_BINDING_LOCK, binding)
            rows = await _select(conn, _LIVE, binding, opening.since)
            if rows:
                return rows[0], False
            p = candidate.principal
            # Per requester, like the binding: concurrent requests of one agent take turns.
            await conn.execute(_BINDING_LOCK, f"requester {p.issuer} {p.tenant} {p.subject}")
            pending = int(await conn.fetchval(_PENDING_OF, p.issuer, p.tenant, p.subject))
            if pending >= opening.pending_cap:
                raise PendingCapReached(pending, opening.pending_cap)
            await opening.before_insert(candidate)
            await conn.execute(_INSERT, *row_values(binding, candidate))
            if kept is not None:
                await conn.execute(KEEP_RESULT.format(p="$"), json.dumps(result_to_json(kept)), candidate.approval_id)
            # Other replicas learn of it too: their pending-approvals gauges count it.
            await self._tell(conn, candidate.approval_id)
            return opening.stored(), True

    async def transition(
        self,
        approval_id: str,
        change: Callable[[Approval], Approval | None],
        before_commit: BeforeCommit,
        *,
        now: float,
    ) -> StoredApproval | None:
        async with self._transaction() as conn:
            # Lock first, then read in a new statement: its snapshot sees the votes the
            # previous holder of the lock committed with its state.
            await conn.execute(_ROW_LOCK, approval_id)
            rows = await _select(conn, "WHERE approval_id = $1", approval_id)
            if not rows:
                return None
            current = rows[0]
            after = change(current.approval)
            if after is None:
                return None
            await before_commit(current.approval, after)
            known = {v.approver for v in current.approval.votes}
            votes = [
                (approval_id, v.approver, v.approve, v.comment, v.at, json.dumps(voter_to_json(v)))
                for v in after.votes
                if v.approver not in known
            ]
            if votes:
                await conn.executemany(_INSERT_VOTE, votes)
            decided_at = now if after.state is not ApprovalState.PENDING else None
            await conn.execute(_UPDATE_STATE, approval_id, after.state.value, decided_at)
            await self._tell(conn, approval_id)
            return StoredApproval(after, decided_at, current.execution, current.result)

    async def claim(self, approval_id: str) -> bool:
        """Take the single right to execute an approved call; True for exactly one caller of
        all replicas ever."""
        async with self._connection() as conn:
            status: str = await conn.execute(_CLAIM, approval_id, self._key)
            return status == "UPDATE 1"

    async def save_result(self, approval_id: str, result: ToolResult) -> bool:
        async with self._transaction() as conn:
            status: str = await conn.execute(_SAVE_RESULT, approval_id, json.dumps(result_to_json(result)))
            saved = status == "UPDATE 1"
            if saved:
                await self._tell(conn, approval_id)
            return saved

    async def settle_interrupted(self, result: ToolResult) -> builtins.list[str]:
        """Give the claimed-but-unfinished executions of replicas that stopped `result`;
        returns their ids. Claims of running replicas are left alone."""
        async with self._transaction() as conn:
            claimers = [r[0] for r in await conn.fetch(_CLAIMERS)]
            gone = [key for key in claimers if key != self._key and await conn.fetchval(_CLAIMER_GONE, key)]
            if not gone:
                return []
            ids = [r[0] for r in await conn.fetch(_SETTLE, json.dumps(result_to_json(result)), gone)]
            for approval_id in ids:
                await self._tell(conn, approval_id)
            return ids

    # -- helpers -------------------------------------------------------------------------

    async def _tell(self, conn: asyncpg.Connection, approval_id: str) -> None:
        await self._notify(conn, f"{self._key}:{approval_id}")


async def _select(
    conn: asyncpg.Connection, tail: str, *params: Any, order: str = "ORDER BY requested_at DESC, approval_id DESC"
) -> builtins.list[StoredApproval]:
    return stored_approvals(await conn.fetch(select_sql(tail, order), *params))


def _pg_param(params: builtins.list[Any]) -> Callable[[Any], str]:
    def add(value: Any) -> str:
        params.append(value)
        return f"${len(params)}"

    return add


def _pg_json(name: str) -> str:
    return f"(principal::jsonb ->> '{name}')"
