"""Dry run: what a call would do, without holding or forwarding it.

An agent asks with the MCP `_meta` key `io.agent-gateway/dryRun: true` or the REST header
`Gateway-Dry-Run: true`. The call is authenticated, validated, rate-limited and decided
like any other; instead of being held or forwarded, the agent gets a report: the effect,
the rule, the approvals it would need. A tool whose backend has a test run (`simulates`)
is sent there (only when the policy would not deny it) and the backend's own verdict is
added. The call is audited like any other, marked as a dry run.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.errors import CallRefused
from gateway.models import Decision, Effect, ToolCall, ToolResult

DRY_RUN_META = "io.agent-gateway/dryRun"
DRY_RUN_HEADER = "Gateway-Dry-Run"
Simulate = Callable[[], Awaitable[ToolResult]]


class InvalidDryRun(ValueError):
    pass


def dry_run_from_meta(meta: Mapping[str, Any] | None) -> bool:
    value = (meta or {}).get(DRY_RUN_META, False)
    if not isinstance(value, bool):
        raise InvalidDryRun(f"_meta {DRY_RUN_META!r} must be true or false, not {value!r}")
    return value


def dry_run_from_header(headers: Mapping[str, str]) -> bool:
    value = headers.get(DRY_RUN_HEADER.lower())
    if value is None:
        return False
    if value.strip().lower() not in ("true", "false"):
        raise InvalidDryRun(f"header {DRY_RUN_HEADER} must be true or false, not {value!r}")
    return value.strip().lower() == "true"


def decision_report(decision: Decision) -> dict[str, Any]:
    report: dict[str, Any] = {
        "would": decision.effect.value,
        "rule": decision.rule,
        "reason": decision.reason,
        "policy_version": decision.policy_version,
    }
    if decision.effect is Effect.APPROVE:
        report["approvals_required"] = max(1, decision.approvals_required)
        report["approver_role"] = decision.approver_role
    return report


async def preview(call: ToolCall, decision: Decision, simulate: Simulate | None) -> tuple[ToolResult, dict[str, Any]]:
    """The agent's report and what the audit records of it (the backend's verdict as a
    status, not its content). `simulate` is None for tools without a test run."""
    report: dict[str, Any] = {"dry_run": True, "tool": call.qualified_name, **decision_report(decision)}
    if simulate is None or decision.effect is Effect.DENY:
        why = "the policy denies the call" if decision.effect is Effect.DENY else "the backend has no test run"
        report["backend"] = {"simulated": False, "why": why}
    else:
        try:
            verdict = await simulate()
        except CallRefused as refusal:
            report["backend"] = {"simulated": True, "accepted": False, "error": refusal.message}
        else:
            report["backend"] = {
                "simulated": True,
                "accepted": not verdict.is_error,
                "content": [dict(c) for c in verdict.content],
                "structured_content": verdict.structured,
            }
    text = json.dumps(report, ensure_ascii=False)
    backend = report["backend"]
    record = {**{k: v for k, v in report.items() if k != "backend"}, "simulated": backend["simulated"]}
    if backend["simulated"]:
        record["backend_accepted"] = backend["accepted"]
    return ToolResult(content=({"type": "text", "text": text},), structured=report), record
