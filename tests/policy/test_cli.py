"""`gateway policy test` and `gateway policy explain`: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from gateway.cli.policy import policy
from tests.support.policy_dirs import SHIPPED, copy_shipped, write_policy


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(policy, list(args))
    return result.exit_code, result.output


def test_shipped_cases_pass() -> None:
    code, output = run("test", str(SHIPPED))
    assert code == 0, output
    assert output.startswith("28 passed, 0 failed")


def test_failing_case_prints_what_matched_instead_and_exits_1(tmp_path: Path) -> None:
    cases = (
        "cases:\n"
        "  - name: small order allowed\n    sub: b\n    roles: [buyer]\n    tool: sap.create_purchase_order\n"
        "    args: {amount: 5}\n    expect: allow\n    rule: policy.csv:1\n"
        "  - name: big order allowed too\n    sub: b\n    roles: [buyer]\n    tool: sap.create_purchase_order\n"
        "    args: {amount: 500}\n    expect: allow\n"
    )
    directory = write_policy(
        tmp_path / "p",
        "p, buyer, *, sap.create_purchase_order, allow, r.args.amount < 10, -\n"
        "# Big orders need the boss.\np, buyer, *, sap.create_purchase_order, approve, r.args.amount >= 10, 1 boss\n",
        cases=cases,
    )
    code, output = run("test", str(directory))
    assert code == 1
    assert (
        "FAIL cases.yaml:9 'big order allowed too': expected allow; got approve (policy.csv:3): "
        "needs 1 approval by boss (policy.csv:3: Big orders need the boss.)"
    ) in output
    assert "1 passed, 1 failed" in output


def test_invalid_policy_exits_2_naming_the_line(tmp_path: Path) -> None:
    directory = copy_shipped(tmp_path / "p")
    (directory / "policy.csv").write_text("P, a, *, t.x, allow, true, -\n")
    code, output = run("test", str(directory))
    assert code == 2
    assert "invalid policy: policy.csv:1:1: unknown line type 'P'" in output


def test_explain_shows_decision_rule_and_every_candidate() -> None:
    code, output = run(
        "explain",
        "--policy",
        str(SHIPPED),
        "--sub",
        "bot",
        "--roles",
        "procurement-agent",
        "sap.create_purchase_order",
        "--args",
        json.dumps({"amount": 60000, "currency": "USD", "vendor_id": "V"}),
    )
    assert code == 0, output
    lines = output.splitlines()
    assert lines[0] == "decision: approve"
    assert lines[1] == "rule:     policy.csv:22"
    assert "approval: 2 x finance-approver, ttl 28800.0" in lines
    assert "caller:   agent-readonly, bot, procurement-agent (tenant (none))" in lines
    assert any(
        line.startswith("  - policy.csv:13 deny procurement-agent@globex")
        and "tenant: rule is for 'globex', the caller's tenant is '(none)'" in line
        for line in lines
    )
    assert any(line.startswith("  + policy.csv:22 approve") and line.endswith(": decides") for line in lines)
    assert any(
        line.startswith("  + policy.csv:24 approve") and "(not reached: policy.csv:22 decided first)" in line
        for line in lines
    )
    assert any(
        line.startswith("  - policy.csv:26 allow") and "is false with r.args.amount=60000" in line for line in lines
    )


def test_explain_names_a_failing_condition() -> None:
    code, output = run(
        "explain",
        "--policy",
        str(SHIPPED),
        "--sub",
        "b",
        "--roles",
        "finance-agent",
        "sap.post_invoice",
        "--args",
        "{}",
    )
    assert code == 0
    # The approve rule's condition reads an argument the call lacks: the stricter reading holds the call.
    assert "decision: approve" in output
    assert "the condition of policy.csv:31 could not be evaluated (argument 'amount' is missing)" in output
    assert "read the stricter way, so this approve rule applies: decides" in output
    assert "argument 'amount' is missing" in output


def test_explain_rejects_bad_input_with_exit_2() -> None:
    code, output = run("explain", "--policy", str(SHIPPED), "--sub", "b", "sap.x", "--args", "[1]")
    assert code == 2 and "must be a JSON object" in output
    code, output = run("explain", "--policy", str(SHIPPED), "--sub", "b", "nodot", "--args", "{}")
    assert code == 2 and "must be connector.tool" in output
