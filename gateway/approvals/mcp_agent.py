"""Held calls as MCP agents see them: the `_meta` key that says how long to wait, the
"pending" result, and the gateway's own tool `gateway.approval_status`.

The status tool is answered by the gateway, never forwarded, and shows an agent only its
own held calls, so it needs no policy rule: every agent sees it.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any

import mcp_types as types

from gateway.approvals.errors import ApprovalError
from gateway.approvals.service import ApprovalService
from gateway.errors import ApprovalPending
from gateway.models import Principal

#: `_meta` key of a tools/call: false answers "pending" at once, a number waits at most
#: that many seconds, true (or absent) waits up to the configured hold time.
WAIT_META = "io.agent-gateway/wait"
#: `_meta` key of a listed tool: true when the policy could hold some call of it by this
#: caller for human approval (so an agent can expect to wait, or ask not to).
MAY_NEED_APPROVAL_META = "io.agent-gateway/mayNeedApproval"
STATUS_TOOL = "gateway.approval_status"
STATUS_INPUT_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "properties": {"approval_id": {"type": "string", "description": "the id a pending result named (apr_...)"}},
    "required": ["approval_id"],
    "additionalProperties": False,
}


class InvalidWait(ValueError):
    """The wait `_meta` value is not false, true or a number of seconds."""


def wait_seconds(meta: Mapping[str, Any] | None) -> float | None:
    if not meta or WAIT_META not in meta:
        return None
    value = meta[WAIT_META]
    if value is True:
        return None
    if value is False:
        return 0.0
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value) and value >= 0:
        return float(value)
    raise InvalidWait(f"_meta {WAIT_META!r} must be false, true or a number of seconds >= 0, not {value!r}")


def status_tool() -> types.Tool:
    return types.Tool(
        name=STATUS_TOOL,
        title="Approval status",
        description=(
            "The state of one of your calls held for human approval: pending, denied (with the"
            " approvers' reason), expired, or, once approved and executed, the tool's result."
        ),
        input_schema=dict(STATUS_INPUT_SCHEMA),
        annotations=types.ToolAnnotations(read_only_hint=True),
    )


def pending_result(refusal: ApprovalPending) -> types.CallToolResult:
    return types.CallToolResult(
        content=[types.TextContent(text=refusal.message)],
        structured_content={"status": "pending", "approval_id": refusal.approval_id},
        is_error=True,
    )


async def status_result(
    approvals: ApprovalService, principal: Principal, arguments: Mapping[str, Any]
) -> types.CallToolResult:
    approval_id = arguments.get("approval_id")
    if not isinstance(approval_id, str):
        return types.CallToolResult(
            content=[types.TextContent(text="approval_id must be the id (apr_...) a pending result named")],
            is_error=True,
        )
    try:
        status = await approvals.status_for(approval_id, principal)
    except ApprovalError as exc:
        return types.CallToolResult(content=[types.TextContent(text=exc.message)], is_error=True)
    body = status.to_json()
    return types.CallToolResult(content=[types.TextContent(text=json.dumps(body))], structured_content=body)
