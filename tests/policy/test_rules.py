"""Row and condition checks: each fault named precisely, each accepted form compiled right."""

from __future__ import annotations

import re

import pytest
from casbin.persist.adapter import _extract_tokens

from gateway.policy.conditions import casbin_to_python, compile_condition
from gateway.policy.errors import PolicyError
from gateway.policy.rules import MAX_ROLE_DEPTH, check_role_graph, check_unique, parse_rule_file, split_row


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("p, a b, *, t.x, allow, true, -", "subject 'a b' is not a name"),
        ("p, a, *, sap?x, allow, true, -", "object 'sap?x' must be connector.tool"),
        ("p, a, *, */x, allow, true, -", "not starting with */"),
        ("p, a, *, sap.**, allow, true, -", "object 'sap.**' must be connector.tool"),
        ("p, a, *, t.x, allow, true, 1 boss", "approval column must be '-' for a allow rule"),
        ("p, a, *, t.x, approve, true, 0 boss", "approval count 0 must be between 1 and 10"),
        ("p, a, *, t.x, approve, true, 11 boss", "approval count 11 must be between 1 and 10"),
        ("p, a, *, t.x, approve, true, 2 boss 5y", "must read 'COUNT ROLE [TTL]'"),
        ("p, a, *, t.x, allow, , -", "condition is empty (write `true` for none)"),
        ("p, a, *, t.x, allow, r.args.amount, -", "'r.args.amount' is not a comparison or true/false"),
        ("p, a, *, t.x, allow, r.args.items == 1, -", "'items' cannot be used as a name"),
        ("p, a, *, t.x, allow, r.args._x == 1, -", "'_x' cannot be used as a name"),
        ("p, a, *, t.x, allow, r.sub == 'x', -", "only r.args.NAME and r.ctx.NAME can be read"),
        ("p, a, *, t.x, allow, r.args.a is None, -", "operator Is is not allowed"),
        ("p, a, *, t.x, allow, r.args.a == 'x&&y', -", "Casbin rewrites && || ! even inside strings"),
        ("p, a, *, t.x, allow, r.args.a + 1 > 2, -", "'r.args.a + 1' is not allowed"),
        ("g, a, a, *", "'a' cannot inherit itself"),
        ("g, a, *, *", "role '*' is not a name"),
    ],
)
def test_bad_rows_are_named_by_file_and_line(row: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_rule_file("x.csv", f"# header\n\n{row}\n", 0)
    assert re.match(r"x\.csv:3:\d+: ", str(caught.value))
    assert message in str(caught.value)


def test_good_rows_parse_with_comment_position_and_ttl() -> None:
    rules, links = parse_rule_file(
        "x.csv",
        "# Big ones need two.\np, r, acme, sap.*, approve, r.args.n >= -5, 2 boss 30m\n\ng, u, r, acme\n",
        7,
    )
    (rule,) = rules
    assert (rule.location, rule.position, rule.comment) == ("x.csv:2", 7, "Big ones need two.")
    assert (rule.approvals_required, rule.approver_role, rule.approval_ttl) == (2, "boss", 1800.0)
    assert rule.row == ("r", "acme", "sap.*", "approve", "r.args.n >= -5", "2 boss 30m")
    assert [link.row for link in links] == [("u", "r", "acme")]


@pytest.mark.parametrize(
    "line",
    [
        "p, a, *, t.x, allow, r.args.c in ('EUR', 'USD'), -",
        "p,a,*,t.x,allow,r.args.c in ['A', 'B'] && (r.args.n > 1 || r.ctx.hour < 2),-",
        "g, a, b, *",
    ],
)
def test_rows_split_exactly_as_casbin_splits_them(line: str) -> None:
    assert split_row(line) == _extract_tokens(line)


def test_casbin_operators_become_python_outside_strings_only() -> None:
    assert casbin_to_python("!(r.args.a != 1) && r.args.b == 'x' || true") == (
        "not (r.args.a != 1)  and  r.args.b == 'x'  or  true"
    )
    assert casbin_to_python("r.args.b == 'a!b'") == "r.args.b == 'a!b'"


@pytest.mark.parametrize(
    ("text", "args", "ctx", "expected"),
    [
        ("r.args.n >= 10 && r.args.c != 'EUR'", {"n": 10, "c": "USD"}, {}, True),
        ("r.args.n >= 10 && r.args.c != 'EUR'", {"n": 10, "c": "EUR"}, {}, False),
        ("r.args.c in ('EUR', 'USD')", {"c": "GBP"}, {}, False),
        ("r.args.c not in ['EUR']", {"c": "GBP"}, {}, True),
        ("r.args.flag == true", {"flag": True}, {}, True),
        ("r.args.v.country == 'DE'", {"v": {"country": "DE"}}, {}, True),
        ("r.ctx.hour < 6 || r.ctx.weekday >= 5", {}, {"hour": 9, "weekday": 6}, True),
        ("false", {}, {}, False),
    ],
)
def test_conditions_evaluate(text: str, args: dict, ctx: dict, expected: bool) -> None:
    test = compile_condition(text).test
    assert test is not None and test(args, ctx) is expected


def test_true_condition_needs_no_evaluation() -> None:
    assert compile_condition("true").test is None


def test_duplicates_and_deep_role_chains_are_refused() -> None:
    rules, _ = parse_rule_file("x.csv", "p, a, *, t.x, allow, true, -\np, a, *, t.x, allow, true, -\n", 0)
    with pytest.raises(PolicyError, match=r"x.csv:2: repeats the row at x.csv:1"):
        check_unique(rules, [])
    chain = "".join(f"g, r{i}, r{i + 1}, *\n" for i in range(MAX_ROLE_DEPTH + 1))
    _, links = parse_rule_file("roles.csv", chain, 0)
    with pytest.raises(PolicyError, match=r"roles.csv:\d+: role chain from 'r0' is deeper than 10 levels"):
        check_role_graph(links)
    _, ok = parse_rule_file("roles.csv", "".join(f"g, r{i}, r{i + 1}, *\n" for i in range(MAX_ROLE_DEPTH)), 0)
    check_role_graph(ok)
    _, tenant_cycle = parse_rule_file("roles.csv", "g, a, b, acme\ng, b, a, *\n", 0)
    with pytest.raises(PolicyError, match=r"role cycle a -> b -> a"):
        check_role_graph(tenant_cycle)
    _, separate = parse_rule_file("roles.csv", "g, a, b, acme\ng, b, a, globex\n", 0)
    check_role_graph(separate)  # a cycle only across two different tenants is none


def test_every_bad_row_is_reported_at_once_with_its_column() -> None:
    text = (
        "p, a, *, t.x, allow, r.args.amount = 5, -\n"
        "p, a, *, t.x, allow, true, -\n"
        "p, a, *, t.y, review, true, -\n"
        "g, a, b\n"
    )
    with pytest.raises(PolicyError) as caught:
        parse_rule_file("x.csv", text, 0)
    assert caught.value.problems == (
        "x.csv:1:36: condition 'r.args.amount = 5' does not parse: invalid syntax"
        " (compare with '==', not '=' or '===')",
        "x.csv:3:15: decision 'review' must be allow, deny or approve",
        "x.csv:4:1: g row has 2 columns, expected 3: member, role, dom",
    )
    assert str(caught.value).startswith("3 problems:\n")


def test_a_leading_not_parses_and_columns_count_from_the_row() -> None:
    rules, _ = parse_rule_file("x.csv", "p, a, *, t.x, allow, !(r.args.n > 5), -\n", 0)
    assert rules[0].condition.python == "not (r.args.n > 5)"
    with pytest.raises(PolicyError) as caught:
        parse_rule_file("x.csv", "p, a, *, t.x, allow, !(r.args.n => 5), -\n", 0)
    assert str(caught.value) == (
        "x.csv:1:33: condition '!(r.args.n => 5)' does not parse: invalid syntax (write '>=', not '=>')"
    )
