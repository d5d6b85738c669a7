"""Why a decision came out as it did: every rule for the tool, and why it did or did not match."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.models import Decision, Effect, Principal, qualified_name
from gateway.policy.engine import EFFECT_ORDER, PolicyEngine, identities_of
from gateway.policy.rules import ANY, Rule


@dataclass(frozen=True, slots=True)
class RuleVerdict:
    rule: Rule
    matched: bool
    why: str


@dataclass(frozen=True, slots=True)
class Explanation:
    decision: Decision
    #: The caller's identities and every role they inherit in the caller's tenant.
    names: frozenset[str]
    #: Rules whose tool glob matches, in evaluation order (deny, approve, allow; file order within).
    verdicts: tuple[RuleVerdict, ...]
    #: Rules left out because their tool glob does not match.
    other_rules: int


def _values(rule: Rule, arguments: Mapping[str, Any], context: Mapping[str, Any]) -> str:
    shown = [f"r.args.{name}={arguments.get(name, '<missing>')!r}" for name in sorted(rule.condition.arg_names)]
    shown += [f"r.ctx.{name}={context.get(name, '<missing>')!r}" for name in sorted(rule.condition.ctx_names)]
    return f" with {', '.join(shown)}" if shown else ""


def _verdict(
    rule: Rule, names: frozenset[str], tenant: str, arguments: Mapping[str, Any], context: Mapping[str, Any]
) -> tuple[bool | None, str]:
    """(True: matches | False: does not | None: its condition raised, why)."""
    if rule.sub != ANY and rule.sub not in names:
        return False, f"subject: rule is for {rule.sub!r}, the caller is none of {', '.join(sorted(names))}"
    if rule.dom not in (ANY, tenant):
        return False, f"tenant: rule is for {rule.dom!r}, the caller's tenant is {tenant or '(none)'!r}"
    test = rule.condition.test
    if test is None:
        return True, "matches (no condition)"
    try:
        holds = test(arguments, context)
    except Exception as exc:
        return None, f"condition {rule.condition.text!r} cannot be evaluated: {rule.condition.describe_failure(exc)}"
    if holds:
        return True, f"condition {rule.condition.text!r} holds{_values(rule, arguments, context)}"
    return False, f"condition {rule.condition.text!r} is false{_values(rule, arguments, context)}"


def explain(
    engine: PolicyEngine,
    principal: Principal,
    connector: str,
    tool: str,
    arguments: Mapping[str, Any],
    context: Mapping[str, Any] | None = None,
) -> Explanation:
    obj = qualified_name(connector, tool)
    ctx = context if context is not None else {}
    tenant = principal.tenant or ""
    names = engine.names_for(identities_of(principal), tenant)
    decision = engine.decide(principal, connector, tool, arguments, ctx)
    for_tool = sorted(
        (rule for rule in engine.policy.rules if rule.matches_object(obj)),
        key=lambda rule: (EFFECT_ORDER[rule.effect], rule.position),
    )
    verdicts: list[RuleVerdict] = []
    # Once a rule decides, later rules are not evaluated by decide().
    stopped: str | None = None
    for rule in for_tool:
        outcome, why = _verdict(rule, names, tenant, arguments, ctx)
        if outcome is None:
            # The stricter reading: a deny or approve rule applies, an allow rule does not.
            outcome = rule.effect is not Effect.ALLOW
            applies = "applies" if outcome else "does not"
            why = f"{why}; read the stricter way, so this {rule.effect.value} rule {applies}"
        if stopped is not None:
            why = f"{why} (not reached: {stopped})"
        elif outcome:
            why = f"{why}: decides"
            stopped = f"{rule.location} decided first"
        verdicts.append(RuleVerdict(rule=rule, matched=outcome, why=why))
    return Explanation(
        decision=decision,
        names=names,
        verdicts=tuple(verdicts),
        other_rules=len(engine.policy.rules) - len(for_tool),
    )
