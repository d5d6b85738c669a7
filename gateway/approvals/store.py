"""Persisted approvals: the store interface and its SQLite (aiosqlite) implementation.

The interface is deliberately narrow so the PostgreSQL store (postgres_store.py, with
LISTEN/NOTIFY) implements the same methods: every state change goes through `transition`,
which reads the current approval, lets the caller compute the next one, runs a hook (the
audit append) and only then commits, all while no other writer can interleave.
"""

from __future__ import annotations

import asyncio
import builtins
import dataclasses
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosqlite

from gateway.approvals.codec import (
    principal_from_json,
    principal_to_json,
    result_from_json,
    result_to_json,
    vote_from_row,
    voter_to_json,
)
from gateway.approvals.errors import ApprovalError
from gateway.models import Approval, ApprovalState, ApprovalVote, ToolResult

Execution = Literal["none", "claimed", "done"]
#: Runs after the next state is known and before it is committed; raising aborts the change.
BeforeCommit = Callable[[Approval, Approval], Awaitable[None]]

STATES = "'pending', 'approved', 'denied', 'expired', 'superseded'"
#: Both stores' tables in either dialect: {real} (floats), {boolean}, {check} (PostgreSQL names
#: the state check, which an upgrade replaces) and {claimer} (PostgreSQL: which replica claimed
#: an execution). `{name}` is the approvals table's name (SQLite rebuilds it to upgrade it).
_APPROVALS_TABLE = """
CREATE TABLE IF NOT EXISTS {name} (
    approval_id TEXT PRIMARY KEY,
    binding TEXT NOT NULL,
    call_id TEXT NOT NULL,
    principal TEXT NOT NULL,
    connector TEXT NOT NULL,
    tool TEXT NOT NULL,
    arguments TEXT NOT NULL,
    arguments_digest TEXT NOT NULL,
    rule TEXT,
    policy_version TEXT NOT NULL,
    approvals_required INTEGER NOT NULL,
    approver_role TEXT,
    requested_at {real} NOT NULL,
    expires_at {real} NOT NULL,
    state TEXT NOT NULL {check}CHECK (state IN ({states})),
    decided_at {real},
    execution TEXT NOT NULL DEFAULT 'none' CHECK (execution IN ('none', 'claimed', 'done')),
    result TEXT,
{claimer}    reason TEXT
);
"""
_OTHER_TABLES = """
-- At most one pending approval per bound call: a retry joins it instead of duplicating it.
CREATE UNIQUE INDEX IF NOT EXISTS approvals_one_pending ON approvals (binding) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS approvals_by_binding ON approvals (binding, requested_at);
CREATE INDEX IF NOT EXISTS approvals_by_state ON approvals (state, expires_at);
CREATE TABLE IF NOT EXISTS approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (approval_id),
    approver TEXT NOT NULL,
    approve {boolean} NOT NULL,
    comment TEXT NOT NULL,
    at {real} NOT NULL,
    voter TEXT,
    PRIMARY KEY (approval_id, approver)
);
"""
_SQLITE = {"real": "REAL", "boolean": "INTEGER", "check": "", "claimer": "", "states": STATES}
_POSTGRES = {
    "real": "DOUBLE PRECISION",
    "boolean": "BOOLEAN",
    "check": "CONSTRAINT approvals_state_check ",
    "claimer": "    claimed_by BIGINT,\n",
    "states": STATES,
}


def approvals_schema(*, postgres: bool) -> str:
    """The statements that create the approval tables and their indexes (idempotent)."""
    words = _POSTGRES if postgres else _SQLITE
    return _APPROVALS_TABLE.format(name="approvals", **words) + _OTHER_TABLES.format(**words)


_SCHEMA = approvals_schema(postgres=False)

#: The stored columns in the order `row_values` gives and `stored_approvals` reads them.
COLUMNS = (
    "approval_id, binding, call_id, principal, connector, tool, arguments, arguments_digest, rule,"
    " policy_version, approvals_required, approver_role, requested_at, expires_at, state, decided_at, reason"
)
COLUMN_COUNT = COLUMNS.count(",") + 1
#: The vote columns every select joins, in the order `stored_approvals` reads them.
VOTE_COLUMNS = "v.approver, v.approve, v.comment, v.at, v.voter"


@dataclass(frozen=True, slots=True)
class Scope:
    """One part of what a viewer may see: approvals of `tenant` (None: every tenant) whose
    approver role is one of `roles` (None: any role; `default_role` also admits approvals
    whose rule named no role)."""

    tenant: str | None
    roles: frozenset[str] | None
    default_role: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalFilter:
    """What a listing asks for; None means any."""

    states: tuple[ApprovalState, ...] | None = (ApprovalState.PENDING,)
    connector: str | None = None
    tool: str | None = None
    agent: str | None = None
    limit: int = 100
    #: What the viewer may see (any of them); None: everything (the gateway itself).
    scopes: tuple[Scope, ...] | None = None
    oldest_first: bool = False
    #: Keyset cursor: only approvals after this (requested_at, approval_id) in the order asked.
    after: tuple[float, str] | None = None


class PendingCapReached(ApprovalError):
    """The requester already has as many pending approvals as it may."""

    def __init__(self, count: int, cap: int) -> None:
        super().__init__(
            "limited",
            f"you already have {count} calls waiting for approval (the limit is {cap});"
            " wait until approvers decide some of them, or ask them to",
        )


Placeholder = Callable[[Any], str]


def filter_sql(query: ApprovalFilter, param: Placeholder, json_field: Callable[[str], str]) -> str:
    """The WHERE clause of a listing (empty when it asks for everything); `param(value)`
    adds a bound parameter and returns its placeholder, `json_field(name)` reads a field
    of the stored requester."""
    clauses: list[str] = []
    if query.states is not None:
        clauses.append(f"state IN ({', '.join(param(s.value) for s in query.states)})")
    for column, value in (("connector", query.connector), ("tool", query.tool)):
        if value is not None:
            clauses.append(f"{column} = {param(value)}")
    if query.agent is not None:
        clauses.append(f"{json_field('subject')} = {param(query.agent)}")
    if query.scopes is not None:
        clauses.append(_scopes_sql(query.scopes, param, json_field))
    if query.after is not None:
        sign = ">" if query.oldest_first else "<"
        at, approval_id = query.after
        clauses.append(f"(requested_at, approval_id) {sign} ({param(at)}, {param(approval_id)})")
    return f"WHERE {' AND '.join(clauses)} " if clauses else ""


def _scopes_sql(scopes: tuple[Scope, ...], param: Placeholder, json_field: Callable[[str], str]) -> str:
    parts: list[str] = []
    for scope in scopes:
        terms: list[str] = []
        if scope.tenant is not None:
            terms.append(f"COALESCE({json_field('tenant')}, '') = {param(scope.tenant)}")
        if scope.roles is not None:
            roles = [f"approver_role IN ({', '.join(param(r) for r in sorted(scope.roles))})"] if scope.roles else []
            if scope.default_role:
                roles.append("approver_role IS NULL")
            terms.append(f"({' OR '.join(roles)})" if roles else "FALSE")
        parts.append(f"({' AND '.join(terms)})" if terms else "TRUE")
    return f"({' OR '.join(parts)})" if parts else "FALSE"


def order_sql(query: ApprovalFilter) -> str:
    direction = "ASC" if query.oldest_first else "DESC"
    return f"ORDER BY requested_at {direction}, approval_id {direction}"


@dataclass(frozen=True, slots=True)
class StoredApproval:
    approval: Approval
    decided_at: float | None
    execution: Execution
    result: ToolResult | None


@dataclass(frozen=True, slots=True)
class Opening:
    """An approval to open for a held call unless a live one (pending, or decided after
    `since` and not superseded) already has its `binding`: what `join_or_create` takes."""

    binding: str
    candidate: Approval
    since: float
    #: Runs before the candidate is inserted (the audit record); raising aborts the insert.
    before_insert: Callable[[Approval], Awaitable[None]]
    #: The most pending approvals one requester may have.
    pending_cap: int
    #: The result of a call that has run already, stored with the new approval as its single
    #: execution's (a result held for review: nothing is left to execute).
    kept: ToolResult | None = None

    def stored(self) -> StoredApproval:
        """The candidate as the store holds it once inserted."""
        return StoredApproval(self.candidate, None, "none" if self.kept is None else "done", self.kept)


class ApprovalStore(Protocol):
    async def close(self) -> None: ...
    async def get(self, approval_id: str) -> StoredApproval | None: ...
    async def list(self, query: ApprovalFilter) -> builtins.list[StoredApproval]: ...
    async def count(self, query: ApprovalFilter) -> int: ...
    async def count_pending(self) -> int: ...
    async def next_expiry(self) -> float | None: ...
    async def due(self, now: float) -> builtins.list[str]: ...
    async def live(self, binding: str, since: float) -> StoredApproval | None: ...
    async def join_or_create(self, opening: Opening) -> tuple[StoredApproval, bool]:
        """The live approval for `opening.binding`, else `opening.candidate` inserted; the
        flag says whether it was created. PendingCapReached when the requester has
        `opening.pending_cap` pending approvals already."""

    async def transition(
        self,
        approval_id: str,
        change: Callable[[Approval], Approval | None],
        before_commit: BeforeCommit,
        *,
        now: float,
    ) -> StoredApproval | None:
        """Apply `change` to the current approval; None (from the store or from `change`)
        means nothing was changed. ApprovalError raised by `change` propagates."""

    async def claim(self, approval_id: str) -> bool: ...
    async def save_result(self, approval_id: str, result: ToolResult) -> bool: ...
    async def settle_interrupted(self, result: ToolResult) -> builtins.list[str]: ...


class SQLiteApprovalStore:
    def __init__(self, writer: aiosqlite.Connection, reader: aiosqlite.Connection) -> None:
        self._writer = writer
        self._reader = reader
        # One writer at a time: the read-compute-audit-commit of a transition must not interleave.
        self._write_lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: str | Path) -> SQLiteApprovalStore:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await aiosqlite.connect(path, isolation_level=None)
        try:
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=FULL")
            await writer.execute("PRAGMA busy_timeout=5000")
            await _migrate_sqlite(writer)
            await writer.executescript(_SCHEMA)
            reader = await aiosqlite.connect(path, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        await reader.execute("PRAGMA busy_timeout=5000")
        return cls(writer, reader)

    async def close(self) -> None:
        await self._reader.close()
        await self._writer.close()

    # -- reads -------------------------------------------------------------------------

    async def get(self, approval_id: str) -> StoredApproval | None:
        rows = await self._select("WHERE approval_id = ?", (approval_id,))
        return rows[0] if rows else None

    async def list(self, query: ApprovalFilter) -> builtins.list[StoredApproval]:
        params: builtins.list[Any] = []
        where = filter_sql(query, _sqlite_param(params), _sqlite_json)
        return await self._select(f"{where}{order_sql(query)} LIMIT ?", (*params, query.limit), order_sql(query))

    async def count(self, query: ApprovalFilter) -> int:
        params: builtins.list[Any] = []
        where = filter_sql(dataclasses.replace(query, after=None), _sqlite_param(params), _sqlite_json)
        rows = await self._reader.execute_fetchall(f"SELECT count(*) FROM approvals {where}", params)
        return int(next(iter(rows))[0])

    async def count_pending(self) -> int:
        rows = await self._reader.execute_fetchall("SELECT count(*) FROM approvals WHERE state = 'pending'")
        return int(next(iter(rows))[0])

    async def next_expiry(self) -> float | None:
        rows = await self._reader.execute_fetchall("SELECT min(expires_at) FROM approvals WHERE state = 'pending'")
        earliest: float | None = next(iter(rows))[0]
        return earliest

    async def due(self, now: float) -> builtins.list[str]:
        sql = "SELECT approval_id FROM approvals WHERE state = 'pending' AND expires_at <= ?"
        return [r[0] for r in await self._reader.execute_fetchall(sql, (now,))]

    async def live(self, binding: str, since: float) -> StoredApproval | None:
        """The approval join_or_create would join for `binding`, or None."""
        rows = await self._select(
            f"WHERE {LIVE_FOR_BINDING.format(p='?')} ORDER BY requested_at DESC LIMIT 1", (binding, since)
        )
        return rows[0] if rows else None

    # -- writes ------------------------------------------------------------------------

    async def join_or_create(self, opening: Opening) -> tuple[StoredApproval, bool]:
        binding, candidate, kept = opening.binding, opening.candidate, opening.kept
        async with self._write_lock:
            found = await self.live(binding, opening.since)
            if found is not None:
                return found, False
            p = candidate.principal
            counted = await self._reader.execute_fetchall(
                f"SELECT count(*) FROM approvals WHERE state = 'pending' AND {_sqlite_json('issuer')} IS ?"
                f" AND {_sqlite_json('tenant')} IS ? AND {_sqlite_json('subject')} = ?",
                (p.issuer, p.tenant, p.subject),
            )
            pending = int(next(iter(counted))[0])
            if pending >= opening.pending_cap:
                raise PendingCapReached(pending, opening.pending_cap)
            await opening.before_insert(candidate)
            placeholders = ", ".join("?" * COLUMN_COUNT)
            statements = [
                (f"INSERT INTO approvals ({COLUMNS}) VALUES ({placeholders})", row_values(binding, candidate))
            ]
            if kept is not None:
                statements.append(
                    (KEEP_RESULT.format(p="?"), (json.dumps(result_to_json(kept)), candidate.approval_id))
                )
            await self._write(statements)
            return opening.stored(), True

    async def transition(
        self,
        approval_id: str,
        change: Callable[[Approval], Approval | None],
        before_commit: BeforeCommit,
        *,
        now: float,
    ) -> StoredApproval | None:
        async with self._write_lock:
            current = await self.get(approval_id)
            if current is None:
                return None
            after = change(current.approval)
            if after is None:
                return None
            await before_commit(current.approval, after)
            known = {v.approver for v in current.approval.votes}
            statements: builtins.list[tuple[str, tuple[Any, ...]]] = [
                (
                    "INSERT INTO approval_votes (approval_id, approver, approve, comment, at, voter)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (approval_id, v.approver, int(v.approve), v.comment, v.at, json.dumps(voter_to_json(v))),
                )
                for v in after.votes
                if v.approver not in known
            ]
            decided = after.state is not ApprovalState.PENDING
            statements.append(
                (
                    "UPDATE approvals SET state = ?, decided_at = ? WHERE approval_id = ?",
                    (after.state.value, now if decided else None, approval_id),
                )
            )
            await self._write(statements)
            return StoredApproval(after, now if decided else None, current.execution, current.result)

    async def claim(self, approval_id: str) -> bool:
        """Take the single right to execute an approved call; True for exactly one caller ever."""
        async with self._write_lock:
            cur = await self._writer.execute(
                "UPDATE approvals SET execution = 'claimed'"
                " WHERE approval_id = ? AND state = 'approved' AND execution = 'none'",
                (approval_id,),
            )
            return cur.rowcount == 1

    async def save_result(self, approval_id: str, result: ToolResult) -> bool:
        async with self._write_lock:
            cur = await self._writer.execute(
                "UPDATE approvals SET execution = 'done', result = ? WHERE approval_id = ? AND execution = 'claimed'",
                (json.dumps(result_to_json(result)), approval_id),
            )
            return cur.rowcount == 1

    async def settle_interrupted(self, result: ToolResult) -> builtins.list[str]:
        """Give every claimed-but-unfinished execution `result`; returns their ids. Called at
        start-up: such a claim belongs to a gateway that stopped mid-call."""
        async with self._write_lock:
            rows = await self._reader.execute_fetchall("SELECT approval_id FROM approvals WHERE execution = 'claimed'")
            ids = [r[0] for r in rows]
            if ids:
                await self._writer.execute(
                    "UPDATE approvals SET execution = 'done', result = ? WHERE execution = 'claimed'",
                    (json.dumps(result_to_json(result)),),
                )
            return ids

    # -- helpers -----------------------------------------------------------------------

    async def _write(self, statements: builtins.list[tuple[str, tuple[Any, ...]]]) -> None:
        await self._writer.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in statements:
                await self._writer.execute(sql, params)
            await self._writer.execute("COMMIT")
        except BaseException:
            await self._writer.execute("ROLLBACK")
            raise

    async def _select(
        self, tail: str, params: tuple[Any, ...], order: str = "ORDER BY requested_at DESC, approval_id DESC"
    ) -> builtins.list[StoredApproval]:
        # One statement run to completion in one call: it reads one snapshot, and no other
        # statement on the reader stays open across awaits to pin an old snapshot.
        sql = select_sql(tail, order)
        return stored_approvals(await self._reader.execute_fetchall(sql, params))


#: The approval a retry of a bound call joins: pending, or decided within the replay
#: window. A superseded approval is not joined: the retry is decided afresh.
LIVE_FOR_BINDING = "binding = {p}1 AND (state = 'pending' OR (decided_at >= {p}2 AND state <> 'superseded'))"
#: A held result stored with its new approval: done, so it is never claimed for execution.
KEEP_RESULT = "UPDATE approvals SET execution = 'done', result = {p}1 WHERE approval_id = {p}2"


def select_sql(tail: str, order: str) -> str:
    """Approvals chosen by `tail` with their votes, one row per vote, in `order`."""
    outer = order.replace("ORDER BY ", "ORDER BY a.").replace(", approval_id", ", a.approval_id")
    return (
        f"SELECT a.*, {VOTE_COLUMNS}"
        f" FROM (SELECT {COLUMNS}, execution, result FROM approvals {tail}) AS a"
        f" LEFT JOIN approval_votes AS v ON v.approval_id = a.approval_id"
        f" {outer}, v.at"
    )


def _sqlite_param(params: builtins.list[Any]) -> Placeholder:
    def add(value: Any) -> str:
        params.append(value)
        return "?"

    return add


def _sqlite_json(name: str) -> str:
    return f"json_extract(principal, '$.{name}')"


async def _migrate_sqlite(db: aiosqlite.Connection) -> None:
    """Bring tables made by earlier versions up to date: the reason and voter columns, and
    the 'superseded' state (a CHECK constraint, so the table is rebuilt)."""
    rows = list(await db.execute_fetchall("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'approvals'"))
    if not rows or "'superseded'" in rows[0][0]:
        return
    columns = {r[1] for r in await db.execute_fetchall("PRAGMA table_info(approvals)")}
    vote_columns = {r[1] for r in await db.execute_fetchall("PRAGMA table_info(approval_votes)")}
    kept = (
        "approval_id, binding, call_id, principal, connector, tool, arguments, arguments_digest, rule, policy_version,"
    )
    kept += " approvals_required, approver_role, requested_at, expires_at, state, decided_at, execution, result"
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute(_APPROVALS_TABLE.format(name="approvals_next", **_SQLITE))
        reason = ", reason" if "reason" in columns else ""
        await db.execute(f"INSERT INTO approvals_next ({kept}{reason}) SELECT {kept}{reason} FROM approvals")
        await db.execute("DROP TABLE approvals")
        await db.execute("ALTER TABLE approvals_next RENAME TO approvals")
        if vote_columns and "voter" not in vote_columns:
            await db.execute("ALTER TABLE approval_votes ADD COLUMN voter TEXT")
        await db.execute("COMMIT")
    except BaseException:
        await db.execute("ROLLBACK")
        raise


def row_values(binding: str, a: Approval) -> tuple[Any, ...]:
    return (
        a.approval_id,
        binding,
        a.call_id,
        json.dumps(principal_to_json(a.principal)),
        a.connector,
        a.tool,
        json.dumps(a.arguments),
        a.arguments_digest,
        a.rule,
        a.policy_version,
        a.approvals_required,
        a.approver_role,
        a.requested_at,
        a.expires_at,
        a.state.value,
        None,
        a.reason,
    )


def stored_approvals(rows: Iterable[Any]) -> builtins.list[StoredApproval]:
    """Approvals from rows of COLUMNS, execution, result, then VOTE_COLUMNS (NULL without
    votes), a row per vote, each approval's rows together."""
    found: dict[str, tuple[Any, builtins.list[ApprovalVote]]] = {}
    first_vote = COLUMN_COUNT + 2
    for r in rows:
        entry = found.setdefault(r[0], (r, []))
        if r[first_vote] is not None:
            entry[1].append(vote_from_row(*r[first_vote : first_vote + 5]))
    return [_stored(r, tuple(votes)) for r, votes in found.values()]


def _stored(r: Any, votes: tuple[ApprovalVote, ...]) -> StoredApproval:
    approval = Approval(
        approval_id=r[0],
        call_id=r[2],
        principal=principal_from_json(json.loads(r[3])),
        connector=r[4],
        tool=r[5],
        arguments=json.loads(r[6]),
        arguments_digest=r[7],
        rule=r[8],
        policy_version=r[9],
        approvals_required=r[10],
        approver_role=r[11],
        requested_at=r[12],
        expires_at=r[13],
        state=ApprovalState(r[14]),
        votes=votes,
        reason=r[16] or "",
    )
    result = result_from_json(json.loads(r[18])) if r[18] is not None else None
    return StoredApproval(approval, r[15], r[17], result)
