"""What a requesting agent may learn about its own held call: the answer of the MCP tool
`gateway.approval_status` and of the REST resource `GET /v1/calls/{approval_id}`.

Only the agent that made the call sees it; approvers use the approvals API instead.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from gateway.approvals.machine import approvals_count, deny_reason
from gateway.approvals.store import StoredApproval
from gateway.models import ApprovalState, Principal, ToolResult, qualified_name

Status = Literal["pending", "approved", "executing", "completed", "denied", "expired", "superseded"]


@dataclass(frozen=True, slots=True)
class CallStatus:
    approval_id: str
    tool: str
    status: Status
    #: One sentence for the agent: votes so far, the approvers' reason, or what to do next.
    message: str
    expires_at: float
    #: For "completed": the result of the single approved execution.
    result: ToolResult | None = None
    #: For "approved": when its execution window ends (a retry after it is superseded).
    execute_by: float | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "approval_id": self.approval_id,
            "tool": self.tool,
            "status": self.status,
            "message": self.message,
            "expires_at": self.expires_at,
        }
        if self.execute_by is not None:
            body["execute_by"] = self.execute_by
        if self.result is not None:
            body["result"] = {
                "content": list(self.result.content),
                "structured_content": self.result.structured,
                "is_error": self.result.is_error,
            }
        return body


def outcome_text(result: ToolResult | None) -> str | None:
    """The first text block of a stored result (a superseded approval keeps its reason there)."""
    if result is None or not result.content:
        return None
    text = result.content[0].get("text")
    return text if isinstance(text, str) else None


def is_requester(stored: StoredApproval, principal: Principal) -> bool:
    asked = stored.approval.principal
    return (asked.issuer, asked.tenant, asked.subject) == (principal.issuer, principal.tenant, principal.subject)


def call_status(stored: StoredApproval, execute_by: float | None = None) -> CallStatus:
    """The agent's view; `execute_by`: the end of an approved call's execution window."""
    approval = stored.approval
    tool = qualified_name(approval.connector, approval.tool)

    def status(kind: Status, message: str, result: ToolResult | None = None) -> CallStatus:
        return CallStatus(approval.approval_id, tool, kind, message, approval.expires_at, result)

    if approval.state is ApprovalState.PENDING:
        return status("pending", f"awaiting approval {approvals_count(approval)} of {approval.approvals_required}")
    if approval.state is ApprovalState.SUPERSEDED:
        return status("superseded", deny_reason(approval, outcome_text(stored.result)))
    if approval.state is not ApprovalState.APPROVED:
        return status(approval.state.value, deny_reason(approval))  # type: ignore[arg-type]
    if stored.execution == "done":
        return status("completed", "approved and executed", stored.result)
    if stored.execution == "claimed":
        return status("executing", "approved; the call is being executed")
    deadline = f" before {datetime.fromtimestamp(execute_by, UTC).isoformat(timespec='seconds')}" if execute_by else ""
    approved = status("approved", f"approved; call {tool} again with the same arguments{deadline} to execute it")
    return dataclasses.replace(approved, execute_by=execute_by)
