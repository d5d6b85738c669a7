"""Questions an auditor asks of the log, and the one-line story of a call they get back."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gateway.models import AuditRecord


@dataclass(frozen=True, slots=True)
class CallQuery:
    """Calls matching every given filter (None: any), oldest first unless `newest_first`."""

    agent: str | None = None
    connector: str | None = None
    tool: str | None = None
    #: An effect (allow, deny, approve), a completion status (ok, error) or `rejected`.
    outcome: str | None = None
    approver: str | None = None
    #: Unix time range of receipt, [since, until).
    since: float | None = None
    until: float | None = None
    trace_id: str | None = None
    #: Only calls received after this record (paging).
    after_seq: int = 0
    limit: int = 100
    call_id: str | None = None
    newest_first: bool = False


@dataclass(frozen=True, slots=True)
class CallSummary:
    call_id: str
    seq: int
    ts: float
    trace_id: str | None
    agent: str | None
    connector: str | None
    tool: str | None
    effect: str | None
    status: str | None
    approvers: tuple[str, ...]
    records: tuple[AuditRecord, ...]
    #: The approval this call requested or executed under, if any.
    approval_id: str | None = None

    def to_json(self, *, with_records: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "call_id": self.call_id,
            "seq": self.seq,
            "ts": self.ts,
            "trace_id": self.trace_id,
            "agent": self.agent,
            "connector": self.connector,
            "tool": self.tool,
            "effect": self.effect,
            "status": self.status,
            "approvers": list(self.approvers),
            "approval_id": self.approval_id,
        }
        if with_records:
            out["records"] = [record_json(r) for r in self.records]
        return out


def record_json(record: AuditRecord) -> dict[str, Any]:
    return {
        "seq": record.seq,
        "ts": record.ts,
        "kind": record.kind,
        "call_id": record.call_id,
        "data": record.data,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def summarize(call_id: str, records: Iterable[AuditRecord]) -> CallSummary:
    """Fold the records of one call (in log order) into its summary."""
    ordered = tuple(records)
    received: Mapping[str, Any] = {}
    effect = status = None
    approvers: list[str] = []
    approval_id = None
    for record in ordered:
        approval_id = approval_id or record.data.get("approval_id")
        if record.kind == "call.received":
            received = record.data
        elif record.kind == "call.decided":
            effect = record.data.get("effect")
        elif record.kind == "call.rejected":
            status = "rejected"
        elif record.kind == "call.completed":
            status = record.data.get("status")
        elif record.kind == "approval.voted":
            approver = str(record.data.get("approver"))
            if approver not in approvers:
                approvers.append(approver)
    principal = received.get("principal") or {}
    first = ordered[0]
    return CallSummary(
        call_id=call_id,
        seq=first.seq,
        ts=first.ts,
        trace_id=received.get("trace_id"),
        agent=principal.get("subject"),
        connector=received.get("connector"),
        tool=received.get("tool"),
        effect=effect,
        status=status,
        approvers=tuple(a for a in approvers if a is not None),
        records=ordered,
        approval_id=approval_id,
    )


def parse_time(value: str) -> float:
    """Unix seconds, or ISO 8601 (UTC when no zone is given); ValueError names the value."""
    try:
        return float(value)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value!r} is neither ISO 8601 (2026-07-01T00:00Z) nor unix seconds") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()
