"""Persisted approvals: the store interface and its SQLite (aiosqlite) implementation.

The interface is deliberately narrow so the PostgreSQL store (postgres_store.py, with
LISTEN/NOTIFY) implements the same methods: every state change goes through `transition`,
which reads the current approval, lets the caller compute the next one, runs a hook (the
audit append) and only then commits, all while no other writer can interleave.
"""

from __future__ import annotations

import asyncio
import builtins
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import aiosqlite

from gateway.approvals.codec import principal_from_json, principal_to_json, result_from_json, result_to_json
from gateway.models import Approval, ApprovalState, ApprovalVote, ToolResult

Execution = Literal["none", "claimed", "done"]
#: Runs after the next state is known and before it is committed; raising aborts the change.
BeforeCommit = Callable[[Approval, Approval], Awaitable[None]]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS approvals (
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
    requested_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
    decided_at REAL,
    execution TEXT NOT NULL DEFAULT 'none' CHECK (execution IN ('none', 'claimed', 'done')),
    result TEXT
);
-- At most one pending approval per bound call: a retry joins it instead of duplicating it.
CREATE UNIQUE INDEX IF NOT EXISTS approvals_one_pending ON approvals (binding) WHERE state = 'pending';
CREATE INDEX IF NOT EXISTS approvals_by_binding ON approvals (binding, requested_at);
CREATE INDEX IF NOT EXISTS approvals_by_state ON approvals (state, expires_at);
CREATE TABLE IF NOT EXISTS approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (approval_id),
    approver TEXT NOT NULL,
    approve INTEGER NOT NULL,
    comment TEXT NOT NULL,
    at REAL NOT NULL,
    PRIMARY KEY (approval_id, approver)
);
"""

#: The stored columns in the order `row_values` gives and `stored_approvals` reads them.
COLUMNS = (
    "approval_id, binding, call_id, principal, connector, tool, arguments, arguments_digest, rule,"
    " policy_version, approvals_required, approver_role, requested_at, expires_at, state, decided_at"
)


@dataclass(frozen=True, slots=True)
class ApprovalFilter:
    """What a listing asks for; None means any."""

    states: tuple[ApprovalState, ...] | None = (ApprovalState.PENDING,)
    connector: str | None = None
    tool: str | None = None
    agent: str | None = None
    limit: int = 100


@dataclass(frozen=True, slots=True)
class StoredApproval:
    approval: Approval
    decided_at: float | None
    execution: Execution
    result: ToolResult | None


class ApprovalStore(Protocol):
    async def close(self) -> None: ...
    async def get(self, approval_id: str) -> StoredApproval | None: ...
    async def list(self, query: ApprovalFilter) -> builtins.list[StoredApproval]: ...
    async def count_pending(self) -> int: ...
    async def next_expiry(self) -> float | None: ...
    async def due(self, now: float) -> builtins.list[str]: ...
    async def join_or_create(
        self, binding: str, candidate: Approval, *, since: float, before_insert: Callable[[Approval], Awaitable[None]]
    ) -> tuple[StoredApproval, bool]: ...
    async def transition(
        self,
        approval_id: str,
        change: Callable[[Approval], Approval | None],
        before_commit: BeforeCommit,
        *,
        now: float,
    ) -> StoredApproval | None: ...
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
        clauses: builtins.list[str] = []
        params: builtins.list[Any] = []
        if query.states is not None:
            clauses.append(f"state IN ({', '.join('?' * len(query.states))})")
            params.extend(s.value for s in query.states)
        for column, value in (("connector", query.connector), ("tool", query.tool)):
            if value is not None:
                clauses.append(f"{column} = ?")
                params.append(value)
        if query.agent is not None:
            clauses.append("json_extract(principal, '$.subject') = ?")
            params.append(query.agent)
        where = f"WHERE {' AND '.join(clauses)} " if clauses else ""
        return await self._select(f"{where}ORDER BY requested_at DESC LIMIT ?", (*params, query.limit))

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

    # -- writes ------------------------------------------------------------------------

    async def join_or_create(
        self, binding: str, candidate: Approval, *, since: float, before_insert: Callable[[Approval], Awaitable[None]]
    ) -> tuple[StoredApproval, bool]:
        """The live approval for `binding` (pending, or decided after `since`), else `candidate`
        inserted; the flag says whether it was created."""
        async with self._write_lock:
            rows = await self._select(
                "WHERE binding = ? AND (state = 'pending' OR decided_at >= ?) ORDER BY requested_at DESC LIMIT 1",
                (binding, since),
            )
            if rows:
                return rows[0], False
            await before_insert(candidate)
            await self._write(
                [(f"INSERT INTO approvals ({COLUMNS}) VALUES ({', '.join('?' * 16)})", row_values(binding, candidate))]
            )
            return StoredApproval(candidate, None, "none", None), True

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
                    "INSERT INTO approval_votes (approval_id, approver, approve, comment, at) VALUES (?, ?, ?, ?, ?)",
                    (approval_id, v.approver, int(v.approve), v.comment, v.at),
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

    async def _select(self, tail: str, params: tuple[Any, ...]) -> builtins.list[StoredApproval]:
        # One statement run to completion in one call: it reads one snapshot, and no other
        # statement on the reader stays open across awaits to pin an old snapshot.
        sql = (
            f"SELECT a.*, v.approver, v.approve, v.comment, v.at"
            f" FROM (SELECT {COLUMNS}, execution, result FROM approvals {tail}) AS a"
            f" LEFT JOIN approval_votes AS v ON v.approval_id = a.approval_id"
            f" ORDER BY a.requested_at DESC, a.approval_id, v.at"
        )
        return stored_approvals(await self._reader.execute_fetchall(sql, params))


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
    )


def stored_approvals(rows: Iterable[Any]) -> builtins.list[StoredApproval]:
    """Approvals from rows of COLUMNS, execution, result, then one vote's columns (approver,
    approve, comment, at; NULL without votes), a row per vote, each approval's rows together."""
    found: dict[str, tuple[Any, list[ApprovalVote]]] = {}
    for r in rows:
        entry = found.setdefault(r[0], (r, []))
        if r[18] is not None:
            entry[1].append(ApprovalVote(r[18], bool(r[19]), r[20], r[21]))
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
    )
    result = result_from_json(json.loads(r[17])) if r[17] is not None else None
    return StoredApproval(approval, r[15], r[16], result)
