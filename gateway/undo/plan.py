"""Which calls to take back, newest first, read from the audit log."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gateway.audit.query import CallQuery, CallSummary
from gateway.audit.search import AuditQueries

State = Literal["compensable", "no_compensation", "already_compensated", "read_only", "is_compensation"]
MAX_CALLS = 1000


@dataclass(frozen=True, slots=True)
class Selector:
    """One of: a trace, a call, or an agent's calls since a time (unix seconds)."""

    trace_id: str | None = None
    call_id: str | None = None
    agent: str | None = None
    since: float | None = None

    def describe(self) -> str:
        if self.trace_id:
            return f"trace {self.trace_id}"
        if self.call_id:
            return f"call {self.call_id}"
        return f"calls of {self.agent} since {self.since}"


@dataclass(frozen=True, slots=True)
class Step:
    call_id: str
    ts: float
    agent: str | None
    tool: str
    state: State
    #: The compensating tool and arguments (state compensable).
    compensation: Mapping[str, Any] | None = None
    #: Why there is nothing to run (the other states).
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "ts": self.ts,
            "agent": self.agent,
            "tool": self.tool,
            "state": self.state,
            "compensation": dict(self.compensation) if self.compensation else None,
            "note": self.note,
        }


async def plan(queries: AuditQueries, selector: Selector, read_only: Iterable[str]) -> list[Step]:
    """The selected calls that completed, newest first, each with what would take it back."""
    done = [c for c in await _selected(queries, selector) if c.status == "ok" and not _received(c).get("dry_run")]
    if not done:
        return []
    undone = await _compensated(queries, min(c.ts for c in done))
    readers = set(read_only)
    return [_step(c, undone, readers) for c in sorted(done, key=lambda c: c.seq, reverse=True)]


async def _selected(queries: AuditQueries, selector: Selector) -> list[CallSummary]:
    if selector.trace_id:
        return await queries.trace(selector.trace_id)
    if selector.call_id:
        return await queries.by_ids([selector.call_id])
    return await queries.calls(CallQuery(agent=selector.agent, since=selector.since, limit=MAX_CALLS))


async def _compensated(queries: AuditQueries, since: float) -> dict[str, str]:
    """Calls already taken back since `since`: original call id -> compensating call id."""
    found: dict[str, str] = {}
    for call in await queries.calls(CallQuery(since=since, outcome="ok", limit=100_000)):
        original = _received(call).get("compensates")
        if original:
            found[original] = call.call_id
    return found


def _step(call: CallSummary, undone: Mapping[str, str], read_only: set[str]) -> Step:
    tool = f"{call.connector}.{call.tool}"

    def step(state: State, note: str = "", compensation: Mapping[str, Any] | None = None) -> Step:
        return Step(call.call_id, call.ts, call.agent, tool, state, compensation, note)

    compensates = _received(call).get("compensates")
    if compensates:
        return step("is_compensation", f"takes back call {compensates}")
    if call.call_id in undone:
        return step("already_compensated", f"taken back by call {undone[call.call_id]}")
    if tool in read_only:
        return step("read_only", "changed nothing")
    completed = next((r.data for r in call.records if r.kind == "call.completed"), {})
    compensation = completed.get("compensation")
    if not compensation:
        return step("no_compensation", "the tool declares no compensation: take it back by hand")
    if "error" in compensation:
        return step("no_compensation", f"{compensation['tool']}: {compensation['error']}")
    return step("compensable", compensation=compensation)


def _received(call: CallSummary) -> Mapping[str, Any]:
    return next((r.data for r in call.records if r.kind == "call.received"), {})
