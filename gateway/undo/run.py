"""Running a plan: each compensation is a new call of the operator through the pipeline
(policy, approval, audit), linked to the call it takes back; the first that does not
succeed stops the run, since older calls may depend on it having been taken back."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.errors import ApprovalPending, CallRefused
from gateway.models import CallerToken, Principal, ToolCall, ToolResult, split_qualified_name
from gateway.tracing import continue_trace
from gateway.undo.plan import Step

RunCall = Callable[[ToolCall], Awaitable[ToolResult]]


async def execute(
    steps: list[Step], operator: Principal, run: RunCall, caller_token: CallerToken | None = None
) -> list[dict[str, Any]]:
    """Each step's report, with the outcome of the compensations that were run. Each runs
    as the operator (`caller_token`: the operator's own token, for backends that act for
    the caller), never as the agent that made the original call."""
    trace_id, traceparent = continue_trace(None)
    reports: list[dict[str, Any]] = []
    stopped: str | None = None
    for step in steps:
        report = step.to_json()
        reports.append(report)
        if step.state != "compensable" or step.compensation is None:
            continue
        if stopped is not None:
            report["outcome"] = {"status": "not_run", "detail": f"stopped: {stopped}"}
            continue
        call = _compensating_call(step.call_id, step.compensation, operator, trace_id, traceparent, caller_token)
        report["outcome"] = await _run_one(call, run)
        if report["outcome"]["status"] != "ok":
            stopped = f"taking back call {step.call_id} did not succeed"
    return reports


def _compensating_call(
    original: str,
    compensation: Mapping[str, Any],
    operator: Principal,
    trace_id: str,
    traceparent: str,
    caller_token: CallerToken | None,
) -> ToolCall:
    parts = split_qualified_name(str(compensation["tool"]))
    connector, tool = parts if parts is not None else ("", "")
    return ToolCall(
        call_id=uuid.uuid4().hex,
        principal=operator,
        connector=connector,
        tool=tool,
        arguments=dict(compensation["arguments"]),
        trace_id=trace_id,
        traceparent=traceparent,
        front_door="undo",
        wait_seconds=0,
        compensates=original,
        caller_token=caller_token,
    )


async def _run_one(call: ToolCall, run: RunCall) -> dict[str, Any]:
    base: dict[str, Any] = {"call_id": call.call_id}
    try:
        result = await run(call)
    except ApprovalPending as pending:
        return {**base, "status": "pending_approval", "approval_id": pending.approval_id, "detail": pending.message}
    except CallRefused as refusal:
        return {**base, "status": refusal.outcome, "detail": refusal.message}
    text = " ".join(str(c.get("text", "")) for c in result.content)
    return {**base, "status": "error" if result.is_error else "ok", "detail": text[:2000]}
