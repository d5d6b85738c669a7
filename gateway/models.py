"""The plain data that flows along the path of one call.

Every stage takes and returns these; none of them holds behaviour beyond small derived
properties, so any stage can be tested with hand-made values.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

#: Separator between connector and tool in the names agents see (`sap.search_orders`).
#: MCP tool names allow `[A-Za-z0-9_.-]`; a dot reads naturally and never appears in
#: connector names (config validation forbids it).
NAMESPACE_SEPARATOR = "."


def qualified_name(connector: str, tool: str) -> str:
    return f"{connector}{NAMESPACE_SEPARATOR}{tool}"


def split_qualified_name(name: str) -> tuple[str, str] | None:
    connector, sep, tool = name.partition(NAMESPACE_SEPARATOR)
    if not sep or not connector or not tool:
        return None
    return connector, tool


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: built from a verified JWT."""

    subject: str
    roles: tuple[str, ...] = ()
    tenant: str | None = None
    issuer: str | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """One tool a connector offers, with the JSON Schema of its arguments."""

    connector: str
    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=lambda: {"type": "object"})
    #: Safe to retry and to call while a circuit is half-open.
    read_only: bool = False
    title: str | None = None

    @property
    def qualified_name(self) -> str:
        return qualified_name(self.connector, self.name)


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One request to run a tool, as a front door hands it to the pipeline."""

    call_id: str
    principal: Principal
    connector: str
    tool: str
    arguments: Mapping[str, Any]
    trace_id: str
    #: W3C traceparent passed on to the backend for lineage.
    traceparent: str
    front_door: str = "mcp"
    client: str | None = None
    idempotency_key: str | None = None
    #: Longest the caller will wait for a human decision (0: answer "pending" at once);
    #: None waits up to the configured hold time.
    wait_seconds: float | None = None
    received_at: float = field(default_factory=time.time)

    @property
    def qualified_name(self) -> str:
        return qualified_name(self.connector, self.tool)


class Effect(enum.StrEnum):
    ALLOW = "allow"
    DENY = "deny"
    APPROVE = "approve"


@dataclass(frozen=True, slots=True)
class Decision:
    """What the policy says about one call, and why."""

    effect: Effect
    #: The rule that decided, as `file:line` (None for the default deny).
    rule: str | None
    reason: str
    policy_version: str
    #: For approve decisions: how many distinct approvers, and the role they need.
    approvals_required: int = 0
    approver_role: str | None = None
    #: For approve decisions: seconds until an undecided approval expires (None: config default).
    approval_ttl: float | None = None
    #: Rules (`file:line`) whose condition could not be evaluated for this call; each was
    #: read the stricter way (a deny or approve rule applied, an allow rule did not).
    unevaluable: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ToolResult:
    """What a tool returned, in MCP content-block form (plain dicts)."""

    content: tuple[Mapping[str, Any], ...]
    is_error: bool = False
    structured: Mapping[str, Any] | None = None

    @classmethod
    def text(cls, text: str, *, is_error: bool = False) -> ToolResult:
        return cls(content=({"type": "text", "text": text},), is_error=is_error)


class ApprovalState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ApprovalVote:
    approver: str
    approve: bool
    comment: str
    at: float


@dataclass(frozen=True, slots=True)
class Approval:
    """A held call waiting for people, bound to the exact call it was raised for."""

    approval_id: str
    call_id: str
    principal: Principal
    connector: str
    tool: str
    arguments: Mapping[str, Any]
    arguments_digest: str
    rule: str | None
    policy_version: str
    approvals_required: int
    approver_role: str | None
    requested_at: float
    expires_at: float
    state: ApprovalState = ApprovalState.PENDING
    votes: tuple[ApprovalVote, ...] = ()


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One entry of the hash-chained audit log."""

    seq: int
    ts: float
    kind: str
    call_id: str | None
    data: Mapping[str, Any]
    prev_hash: str
    hash: str
