"""The plain data that flows along the path of one call.

Every stage takes and returns these; none of them holds behaviour beyond small derived
properties, so any stage can be tested with hand-made values.
"""

from __future__ import annotations

import enum
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Required, TypedDict, Unpack

from gateway.tracing import continue_trace

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
    #: OAuth scopes granted to the token (`scope` / `scp`).
    scopes: tuple[str, ...] = ()
    #: The OAuth client the token was issued to (`client_id`, `azp` or `cid`).
    client: str | None = None
    #: Delegation (RFC 8693 `act`): the acting party first, outermost last.
    actors: tuple[str, ...] = ()


class CallerToken:
    """The bearer token a request was authenticated with, carried only so a connector with
    `token_exchange` auth can exchange it at the identity provider (RFC 8693). It is never
    sent to a backend as it is. Opaque: repr and str hide it, it is not pickled or compared
    by value, and `reveal()` is the one way to read it."""

    __slots__ = ("_value", "expires_at")

    def __init__(self, value: str, expires_at: float | None) -> None:
        self._value = value
        #: Its `exp` (seconds since the epoch), None when it has none.
        self.expires_at = expires_at

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return f"CallerToken(<hidden>, expires_at={self.expires_at!r})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("a caller's token is not serialized")


@dataclass(frozen=True, slots=True)
class Compensation:
    """The call that takes back a write: `tool` (same connector) with each argument taken
    from the original call by a dotted path, `arguments.NAME` or `result.A.B`."""

    tool: str
    arguments: Mapping[str, str]


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
    #: JSON Schema of structured results and MCP annotations, as the backend declares them
    #: (pinned with the rest of the definition; None when the backend says nothing).
    output_schema: Mapping[str, Any] | None = None
    annotations: Mapping[str, Any] | None = None
    #: The backend can run this tool as a test run that changes nothing (dry run).
    simulates: bool = False
    #: How to take back what a successful call of this tool did (undo).
    compensation: Compensation | None = None

    @property
    def qualified_name(self) -> str:
        return qualified_name(self.connector, self.name)


class RequestKind(enum.StrEnum):
    """What a request asks of a backend on an agent's behalf. Every kind takes the same path
    (validate, decide, forward, audit); only a tool call may wait for approval.

    Policy decides each kind but tools under a prefix: `prompts/echo.greet`,
    `resources/echo.test://static-text`, and for an upstream asking the agent during a
    call, `sampling/echo.TOOL` or `elicitation/echo.TOOL`. Casbin's glob `*` never crosses
    `/`, so rules written for tools (`echo.*`, `*`) grant nothing else by accident: each
    kind is allowed on its own. A completion is decided as the prompt or resource template
    it completes (what may not be got may not be completed either).
    """

    TOOL = "tool"
    PROMPT = "prompt"
    RESOURCE = "resource"
    SUBSCRIBE = "subscribe"
    UNSUBSCRIBE = "unsubscribe"
    #: Completion hints for an argument of a prompt, or of a resource template.
    PROMPT_COMPLETION = "prompt_completion"
    RESOURCE_COMPLETION = "resource_completion"
    #: An upstream asking the agent's LLM (sampling) or user (elicitation) while one of
    #: its tools runs: the item is that tool, and the agent is what is reached.
    SAMPLING = "sampling"
    ELICITATION = "elicitation"

    @property
    def namespace(self) -> str | None:
        """The prefix of the policy object (`prompts/conn.item`); None for tools."""
        return _NAMESPACES[self]

    @property
    def asks_agent(self) -> bool:
        return self in (RequestKind.SAMPLING, RequestKind.ELICITATION)


_NAMESPACES: dict[RequestKind, str | None] = {
    RequestKind.TOOL: None,
    RequestKind.PROMPT: "prompts",
    RequestKind.PROMPT_COMPLETION: "prompts",
    RequestKind.RESOURCE: "resources",
    RequestKind.SUBSCRIBE: "resources",
    RequestKind.UNSUBSCRIBE: "resources",
    RequestKind.RESOURCE_COMPLETION: "resources",
    RequestKind.SAMPLING: "sampling",
    RequestKind.ELICITATION: "elicitation",
}


def policy_connector(kind: RequestKind, connector: str) -> str:
    """The connector part of the policy object: `conn`, or `prompts/conn` and the like."""
    namespace = kind.namespace
    return connector if namespace is None else f"{namespace}/{connector}"


class CallOptions(TypedDict, total=False):
    """What a front door says of a request beyond who, what and the trace (`ToolCall.new`)."""

    front_door: Required[str]
    client: Required[str | None]
    kind: RequestKind
    idempotency_key: str | None
    wait_seconds: float | None
    dry_run: bool
    caller_token: CallerToken | None


@dataclass(frozen=True, slots=True)
class ToolCall:
    """One request an agent makes of a backend (a tool call, or any other `kind`), as a
    front door hands it to the pipeline. Front doors build it with `ToolCall.new`."""

    call_id: str
    principal: Principal
    connector: str
    #: The tool; for other kinds the prompt, resource URI or template, or calling tool.
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
    kind: RequestKind = RequestKind.TOOL
    #: Decide and report what would happen; forward only as a backend test run.
    dry_run: bool = False
    #: The call id this call compensates (undo), set only by the gateway itself.
    compensates: str | None = None
    #: The token the request was authenticated with, for connectors that act for the caller.
    caller_token: CallerToken | None = field(default=None, repr=False, compare=False)

    @classmethod
    def new(
        cls,
        principal: Principal,
        connector: str,
        tool: str,
        arguments: Mapping[str, Any],
        *,
        traceparent: str | None,
        **options: Unpack[CallOptions],
    ) -> ToolCall:
        """A new request with its own call id, continuing the agent's trace (`traceparent`:
        the header it sent, if any); what `options` leaves out takes the field's default."""
        trace_id, next_hop = continue_trace(traceparent)
        call_id = uuid.uuid4().hex
        return cls(call_id, principal, connector, tool, arguments, trace_id, next_hop, **options)

    @property
    def qualified_name(self) -> str:
        return qualified_name(self.connector, self.tool)

    @property
    def policy_connector(self) -> str:
        return policy_connector(self.kind, self.connector)

    @property
    def policy_object(self) -> str:
        return qualified_name(self.policy_connector, self.tool)


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
    #: Set on the stored result of an approved call given again to a retry: its approval
    #: id (front doors say the answer is a replay: REST `replayed`, MCP `_meta`).
    replay_of_approval: str | None = None

    @classmethod
    def text(cls, text: str, *, is_error: bool = False) -> ToolResult:
        return cls(content=({"type": "text", "text": text},), is_error=is_error)


class ApprovalState(enum.StrEnum):
    PENDING = "pending"
    APPROVED = "approved"
    DENIED = "denied"
    EXPIRED = "expired"
    #: Approved, but the policy in force at execution (or the execution window) refused it.
    SUPERSEDED = "superseded"


@dataclass(frozen=True, slots=True)
class ApprovalVote:
    approver: str
    approve: bool
    comment: str
    at: float
    #: The voter's issuer, tenant and token roles: re-resolved against the policy in
    #: force when the approved call executes.
    issuer: str | None = None
    tenant: str | None = None
    roles: tuple[str, ...] = ()


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
    #: Why the policy held the call: the reason the agent was given, rule description included.
    reason: str = ""


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
