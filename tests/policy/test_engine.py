"""Each construct of the policy language, decided by the fast evaluator."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from gateway.models import Effect, Principal
from gateway.policy import PolicyEngine, call_context
from tests.support.policy_dirs import SHIPPED, write_policy

BUYER = Principal("bot-7", ("procurement-agent",), "acme")
OFFICE_HOURS = {"hour": 10, "weekday": 2, "tenant": "acme", "front_door": "mcp"}


def engine(tmp_path: Path, policy: str, roles: str = "") -> PolicyEngine:
    return PolicyEngine.load(write_policy(tmp_path / "p", policy, roles))


def test_deny_overrides_approve_overrides_allow_whatever_the_order(tmp_path: Path) -> None:
    e = engine(
        tmp_path,
        "p, r, *, t.x, allow, true, -\np, r, *, t.x, approve, true, 1 boss\np, r, *, t.x, deny, r.args.n > 5, -\n",
    )
    who = Principal("a", ("r",))
    assert (e.decide(who, "t", "x", {"n": 1}).effect, e.decide(who, "t", "x", {"n": 1}).rule) == (
        Effect.APPROVE,
        "policy.csv:2",
    )
    denied = e.decide(who, "t", "x", {"n": 9})
    assert (denied.effect, denied.rule) == (Effect.DENY, "policy.csv:3")


def test_nothing_matching_is_a_default_deny_naming_the_caller(tmp_path: Path) -> None:
    e = engine(tmp_path, "p, r, *, t.x, allow, true, -\n")
    decision = e.decide(Principal("a", ("q",)), "t", "x", {})
    assert (decision.effect, decision.rule) == (Effect.DENY, None)
    assert "no rule allows 'a' (roles q) to call t.x" in decision.reason


def test_subject_token_roles_and_inherited_roles_all_count(tmp_path: Path) -> None:
    e = engine(
        tmp_path,
        "p, alice, *, t.one, allow, true, -\n"
        "p, reader, *, t.two, allow, true, -\n"
        "p, base, *, t.three, allow, true, -\n",
        "g, writer, reader, *\ng, reader, base, *\n",
    )
    alice = Principal("alice")
    writer = Principal("bob", ("writer",))
    assert e.decide(alice, "t", "one", {}).effect is Effect.ALLOW
    assert e.decide(writer, "t", "one", {}).effect is Effect.DENY
    assert e.decide(writer, "t", "two", {}).rule == "policy.csv:2"
    assert e.decide(writer, "t", "three", {}).rule == "policy.csv:3"  # two levels of inheritance


def test_tenant_scoped_role_links_and_rules(tmp_path: Path) -> None:
    e = engine(
        tmp_path,
        "p, buyer, *, t.buy, allow, true, -\np, buyer, globex, t.buy, deny, r.args.n > 10, -\n",
        "g, acme-bot, buyer, acme\n",
    )
    assert e.decide(Principal("acme-bot", (), "acme"), "t", "buy", {"n": 50}).effect is Effect.ALLOW
    assert e.decide(Principal("acme-bot", (), "globex"), "t", "buy", {"n": 1}).effect is Effect.DENY
    assert e.decide(Principal("acme-bot"), "t", "buy", {"n": 1}).effect is Effect.DENY
    assert e.decide(Principal("x", ("buyer",), "globex"), "t", "buy", {"n": 50}).rule == "policy.csv:2"
    assert e.decide(Principal("x", ("buyer",), "acme"), "t", "buy", {"n": 50}).rule == "policy.csv:1"


def test_object_globs_match_connector_and_tool_names(tmp_path: Path) -> None:
    e = engine(tmp_path, "p, *, *, sap.*, allow, true, -\np, *, *, *.delete_*, deny, true, -\n")
    who = Principal("anyone")
    assert e.decide(who, "sap", "search_vendors", {}).rule == "policy.csv:1"
    assert e.decide(who, "sap", "delete_vendor", {}).rule == "policy.csv:2"
    assert e.decide(who, "oracle", "delete_row", {}).effect is Effect.DENY
    assert e.decide(who, "oracle", "find_orders", {}).rule is None
    assert e.decide(who, "sapx", "search", {}).rule is None


def test_conditions_on_arguments_and_context(tmp_path: Path) -> None:
    e = engine(
        tmp_path,
        "p, r, *, t.pay, allow, r.args.amount < 100 && r.args.currency in ('EUR', 'USD') && !(r.ctx.hour < 6), -\n"
        "p, r, *, t.pay, allow, r.ctx.front_door == 'rest' || r.args.meta.kind == 'refund', -\n",
    )
    who = Principal("a", ("r",))
    eur = {"amount": 5, "currency": "EUR"}
    assert e.decide(who, "t", "pay", eur, {"hour": 9}).rule == "policy.csv:1"
    assert e.decide(who, "t", "pay", eur, {"hour": 3, "front_door": "rest"}).rule == "policy.csv:2"
    assert e.decide(who, "t", "pay", eur, {"hour": 3, "front_door": "mcp"}).effect is Effect.DENY
    refund = {"amount": 500, "currency": "EUR", "meta": {"kind": "refund"}}
    assert e.decide(who, "t", "pay", refund, {"hour": 9, "front_door": "mcp"}).rule == "policy.csv:2"


def test_approve_rules_carry_count_role_and_ttl(tmp_path: Path) -> None:
    e = engine(tmp_path, "p, r, *, t.x, approve, true, 2 finance-approver 4h\np, r, *, t.y, approve, true, 1 boss\n")
    who = Principal("a", ("r",))
    x = e.decide(who, "t", "x", {})
    assert (x.effect, x.approvals_required, x.approver_role, x.approval_ttl) == (
        Effect.APPROVE,
        2,
        "finance-approver",
        4 * 3600.0,
    )
    assert "needs 2 approvals by finance-approver" in x.reason
    assert e.decide(who, "t", "y", {}).approval_ttl is None


def test_unevaluable_condition_takes_the_stricter_reading(tmp_path: Path) -> None:
    # #18: a condition reading an argument the call lacks must not deny the whole call.
    e = engine(
        tmp_path,
        "p, r, *, t.x, deny, r.args.priority == 'high', -\n"
        "p, r, *, t.x, allow, true, -\n"
        "p, r, *, t.y, approve, r.args.amount > 100, 1 boss\n"
        "p, r, *, t.y, allow, true, -\n",
    )
    who = Principal("a", ("r",))
    deny = e.decide(who, "t", "x", {})
    assert (deny.effect, deny.rule, deny.unevaluable) == (Effect.DENY, "policy.csv:1", ("policy.csv:1",))
    assert "argument 'priority' is missing" in deny.reason and "that deny rule applied" in deny.reason
    held = e.decide(who, "t", "y", {})
    assert (held.effect, held.rule, held.unevaluable) == (Effect.APPROVE, "policy.csv:3", ("policy.csv:3",))
    clean = e.decide(who, "t", "y", {"amount": 5})
    assert (clean.effect, clean.unevaluable) == (Effect.ALLOW, ())


def test_presence_check_with_in(tmp_path: Path) -> None:
    e = engine(tmp_path, "p, r, *, t.x, allow, 'priority' in r.args && r.args.priority == 'low', -\n")
    who = Principal("a", ("r",))
    assert e.decide(who, "t", "x", {"priority": "low"}).effect is Effect.ALLOW
    absent = e.decide(who, "t", "x", {})
    assert (absent.effect, absent.rule, absent.unevaluable) == (Effect.DENY, None, ())


def test_missing_argument_or_type_error_is_a_clean_deny(tmp_path: Path) -> None:
    e = engine(tmp_path, "p, r, *, t.x, allow, r.args.amount > 10, -\np, r, *, t.y, allow, r.ctx.hour > 10, -\n")
    who = Principal("a", ("r",))
    missing = e.decide(who, "t", "x", {})
    assert (missing.effect, missing.rule, missing.unevaluable) == (Effect.DENY, None, ("policy.csv:1",))
    assert "policy.csv:1" in missing.reason and "argument 'amount' is missing" in missing.reason
    assert "that allow rule did not apply" in missing.reason
    wrong_type = e.decide(who, "t", "x", {"amount": "many"})
    assert wrong_type.effect is Effect.DENY and "TypeError" in wrong_type.reason
    no_context = e.decide(who, "t", "y", {})
    assert "context value 'hour' is missing" in no_context.reason


def test_rule_comment_is_the_reason(tmp_path: Path) -> None:
    e = engine(tmp_path, "# Testers may echo.\np, tester, *, echo.*, allow, true, -\n")
    reason = e.decide(Principal("t", ("tester",)), "echo", "echo", {}).reason
    assert reason == "allowed by policy.csv:2: Testers may echo."


def test_may_list_shows_tools_that_could_be_allowed_or_approved(tmp_path: Path) -> None:
    e = engine(
        tmp_path,
        "p, r, *, t.*, deny, true, -\np, q, *, t.a, allow, r.args.n > 1, -\np, q, *, t.b, approve, true, 1 x\n"
        "p, q, *, t.c, deny, r.args.n > 1, -\np, q, *, t.c, allow, true, -\n",
    )
    q = Principal("a", ("q",))
    assert e.may_list(q, "t", "a") and e.may_list(q, "t", "b") and e.may_list(q, "t", "c")
    assert not e.may_list(q, "t", "d")
    assert not e.may_list(Principal("a", ("q", "r")), "t", "a")


def test_version_and_file_hashes_cover_every_file(tmp_path: Path) -> None:
    directory = write_policy(tmp_path / "p", "p, r, *, t.x, allow, true, -\n", "g, a, r, *\n")
    e = PolicyEngine.load(directory)
    assert set(e.file_hashes) == {"model.conf", "policy.csv", "roles.csv"}
    assert e.file_hashes["policy.csv"] == hashlib.sha256((directory / "policy.csv").read_bytes()).hexdigest()
    (directory / "roles.csv").write_text("g, b, r, *\n")
    assert PolicyEngine.load(directory).version != e.version
    assert e.decide(Principal("a"), "t", "x", {}).policy_version == e.version


def test_shipped_policy_demonstrates_the_demo_rules() -> None:
    e = PolicyEngine.load(SHIPPED)
    po = {"vendor_id": "V1"}
    small = e.decide(BUYER, "sap", "create_purchase_order", {**po, "amount": 9999, "currency": "EUR"})
    assert small.effect is Effect.ALLOW
    one = e.decide(BUYER, "sap", "create_purchase_order", {**po, "amount": 10000, "currency": "EUR"})
    assert (one.effect, one.approvals_required, one.approver_role) == (Effect.APPROVE, 1, "finance-approver")
    two = e.decide(BUYER, "sap", "create_purchase_order", {**po, "amount": 60000, "currency": "USD"})
    assert (two.effect, two.approvals_required) == (Effect.APPROVE, 2)
    finance = Principal("fin-bot", ("finance-agent",))
    transfer = {"from_account": "1", "to_account": "2", "amount": 1}
    assert e.decide(finance, "mainframe", "funds_transfer", transfer, OFFICE_HOURS).effect is Effect.APPROVE
    night = {**OFFICE_HOURS, "hour": 2}
    assert e.decide(finance, "mainframe", "funds_transfer", transfer, night).effect is Effect.DENY
    assert e.decide(BUYER, "sap", "delete_vendor", {}).effect is Effect.DENY
    hr = e.decide(Principal("hr-bot", ("hr-agent",)), "oracle", "update_salary", {"employee_id": 1, "salary": 2})
    assert (hr.effect, hr.approver_role) == (Effect.APPROVE, "hr-approver")
    assert e.decide(Principal("t", ("tester",)), "echo", "add", {"a": 1, "b": 2}).effect is Effect.ALLOW
    assert e.decide(Principal("r", ("agent-readonly",)), "sap", "search_vendors", {}).effect is Effect.ALLOW
    assert e.decide(Principal("r", ("agent-readonly",)), "sap", "create_purchase_order", po).effect is Effect.DENY


@pytest.mark.parametrize(("hour", "weekday"), [(0, 0), (23, 6)])
def test_call_context_names_what_conditions_read(hour: int, weekday: int) -> None:
    from datetime import UTC, datetime, timedelta

    monday = datetime(2026, 11, 23, tzinfo=UTC)
    ctx = call_context(Principal("a", tenant="acme"), "rest", monday + timedelta(days=weekday, hours=hour))
    assert ctx == {"hour": hour, "weekday": weekday, "tenant": "acme", "front_door": "rest"}
