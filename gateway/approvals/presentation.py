"""What approvers are shown beside an approval's raw data: a one-line summary of its
arguments, whether it is high-impact (the console and the CLI ask to confirm), and the
outcome of its execution. The API, the console and the CLI share these."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Any

from gateway.approvals.call_status import outcome_text
from gateway.approvals.store import StoredApproval
from gateway.config import ApprovalSettings
from gateway.models import Approval, ApprovalState, qualified_name
from gateway.untrusted import escape_unsafe

SUMMARY_LENGTH = 120
_VALUE_LENGTH = 40


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        return "{…}" if value else "{}"
    if isinstance(value, list):
        return f"[{len(value)} item{'s' if len(value) != 1 else ''}]"
    if isinstance(value, str):
        # Arguments come from agents: control and bidi characters are shown, never acted on.
        text = escape_unsafe(value)
        return text if len(text) <= _VALUE_LENGTH else text[: _VALUE_LENGTH - 1] + "…"
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)


def summarize(arguments: Mapping[str, Any]) -> str:
    """`key=value` for each top-level argument, in order, cut to one line."""
    line = " ".join(f"{_inline(key)}={_inline(value)}" for key, value in arguments.items())
    return line if len(line) <= SUMMARY_LENGTH else line[: SUMMARY_LENGTH - 1] + "…"


def is_high_impact(approval: Approval, settings: ApprovalSettings) -> bool:
    """An `amount` argument at or over `high_impact_amount`, or a tool matching one of
    `high_impact_tools`."""
    name = qualified_name(approval.connector, approval.tool)
    if any(fnmatch.fnmatchcase(name, pattern) for pattern in settings.high_impact_tools):
        return True
    amount = approval.arguments.get("amount")
    threshold = settings.high_impact_amount
    if threshold is None or isinstance(amount, bool) or not isinstance(amount, int | float):
        return False
    return amount >= threshold


def outcome(stored: StoredApproval, execute_by: float | None, now: float) -> dict[str, Any]:
    """Whether the approved call ran, and how it ended: `executed` (bool), `status`
    ("ok", "error", "running", "not run" or the terminal state) and a `detail` line.
    `execute_by`: the end of the approved call's execution window."""
    approval = stored.approval
    if approval.state is ApprovalState.SUPERSEDED:
        return {"executed": False, "status": "superseded", "detail": outcome_text(stored.result)}
    if approval.state is not ApprovalState.APPROVED:
        return {"executed": False, "status": approval.state.value, "detail": None}
    if stored.execution == "claimed":
        return {"executed": False, "status": "running", "detail": "the approved call is executing"}
    if stored.execution == "none":
        late = execute_by is not None and now > execute_by
        waiting = "approved, but not executed within its execution window: it will not run" if late else None
        return {
            "executed": False,
            "status": "not run",
            "detail": waiting or "approved; waiting for the agent to execute it",
        }
    failed = stored.result is not None and stored.result.is_error
    result = outcome_text(stored.result) if failed else "the backend returned a result"
    return {"executed": True, "status": "error" if failed else "ok", "detail": result}
