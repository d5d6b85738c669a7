"""`gateway policy replay`: recorded calls re-decided under a candidate policy, from a real audit log."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from gateway.audit import AuditLog
from gateway.cli.policy import policy
from gateway.config import AuditSettings
from gateway.models import Principal
from gateway.policy import PolicyEngine, call_context
from tests.support.policy_dirs import SHIPPED, copy_shipped

CALLS: list[tuple[Principal, str, str, dict[str, Any]]] = [
    (Principal("ci", ("tester",)), "echo", "echo", {"text": "hi"}),
    (
        Principal("buyer", ("procurement-agent",), "acme"),
        "sap",
        "create_purchase_order",
        {"amount": 15000, "currency": "EUR"},
    ),
    (
        Principal("buyer", ("procurement-agent",), "acme"),
        "sap",
        "create_purchase_order",
        {"amount": 50, "currency": "EUR"},
    ),
    (Principal("reader", ("agent-readonly",)), "sap", "search_vendors", {"password": "[REDACTED]"}),
    (Principal("ci", ("tester",)), "echo", "add", {"a": 1, "b": 2}),
]


async def record_calls(database: Path | str) -> None:
    """Write what the pipeline writes for each call: received, then decided (plus one undecided call)."""
    engine = PolicyEngine.load(SHIPPED)
    log = await AuditLog.open(AuditSettings(database=str(database)))
    try:
        for number, (principal, connector, tool, arguments) in enumerate(CALLS):
            call_id = f"call-{number}"
            received = {
                "principal": {"subject": principal.subject, "roles": list(principal.roles), "tenant": principal.tenant},
                "connector": connector,
                "tool": tool,
                "arguments": arguments,
                "front_door": "mcp",
            }
            await log.append("call.received", received, call_id=call_id)
            decision = engine.decide(principal, connector, tool, arguments, call_context(principal, "mcp"))
            decided = {"effect": decision.effect.value, "rule": decision.rule, "reason": decision.reason}
            await log.append("call.decided", decided, call_id=call_id)
        await log.append("call.received", {"connector": "sap", "tool": "x", "arguments": {}}, call_id="rejected")
        await log.append("call.rejected", {"stage": "validate", "reason": "bad arguments"}, call_id="rejected")
    finally:
        await log.close()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(policy, list(args))
    return result.exit_code, result.output


async def test_unchanged_policy_changes_nothing(tmp_path: Path) -> None:
    await record_calls(tmp_path / "audit.db")
    code, output = run("replay", "--audit", str(tmp_path / "audit.db"), "--policy", str(SHIPPED), "--fail-on-change")
    assert code == 0, output
    assert output.strip().endswith(
        "5 calls replayed under policy " + PolicyEngine.load(SHIPPED).version[:12] + ": 0 would change, "
        "0 same outcome by another rule, 1 without a recorded decision, 1 with redacted arguments"
    )


async def test_candidate_lists_every_changed_call_with_before_after_and_rule(tmp_path: Path) -> None:
    await record_calls(tmp_path / "audit.db")
    candidate = copy_shipped(tmp_path / "candidate")
    policy_csv = candidate / "policy.csv"
    # Testers lose echo.add; a comment at the top moves every rule down one line.
    text = policy_csv.read_text().replace(
        "p, tester, *, echo.*, allow, true, -", "p, tester, *, echo.echo, allow, true, -"
    )
    policy_csv.write_text("# candidate\n" + text)
    code, output = run("replay", "--audit", str(tmp_path / "audit.db"), "--policy", str(candidate), "--fail-on-change")
    assert code == 1
    lines = output.strip().splitlines()
    assert len(lines) == 2
    assert (
        " seq 9 call-4 ci echo.add: allow (policy.csv:45) -> deny (no rule): no rule allows 'ci' (roles tester)"
        in lines[0]
    )
    assert lines[1].endswith(
        ": 1 would change (allow->deny 1), 4 same outcome by another rule, 1 without a recorded "
        "decision, 1 with redacted arguments"
    )


def test_missing_audit_database_is_a_clean_error(tmp_path: Path) -> None:
    code, output = run("replay", "--audit", str(tmp_path / "none.db"), "--policy", str(SHIPPED))
    assert code == 2
    assert "cannot read the audit log: no audit database at" in output
