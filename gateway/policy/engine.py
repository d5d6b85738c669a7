"""The fast evaluator: a checked policy compiled into indexes and Python functions.

Per call it unions the caller's precomputed role closures, takes the rules indexed under
those names, keeps the ones whose tenant and tool glob match (cached per caller and
tool) and evaluates compiled conditions in decision order until one matches. The
outcomes and deciding rules are those of pycasbin running policies/model.conf
(tests/policy/test_differential.py holds it to that).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from gateway.models import Decision, Effect, Principal, qualified_name
from gateway.policy.conditions import Test
from gateway.policy.loader import Policy, load_policy
from gateway.policy.rules import ANY, RoleLink, Rule

#: Deny overrides approve overrides allow: candidates are sorted by this, then file order.
EFFECT_ORDER = {Effect.DENY: 0, Effect.APPROVE: 1, Effect.ALLOW: 2}
#: Distinct (caller, tool) pairs remembered; the cache is dropped whole when it fills, which
#: bounds memory against callers inventing subjects.
CANDIDATE_CACHE_SIZE = 50_000

Candidate = tuple[Test | None, Decision, Rule]


def rule_decision(rule: Rule, version: str) -> Decision:
    """The decision a rule gives when it decides, with its one-line reason."""
    purpose = f": {rule.comment}" if rule.comment else ""
    if rule.effect is Effect.APPROVE:
        plural = "s" if rule.approvals_required > 1 else ""
        reason = f"needs {rule.approvals_required} approval{plural} by {rule.approver_role} ({rule.location}{purpose})"
    else:
        reason = f"{'allowed' if rule.effect is Effect.ALLOW else 'denied'} by {rule.location}{purpose}"
    return Decision(
        effect=rule.effect,
        rule=rule.location,
        reason=reason,
        policy_version=version,
        approvals_required=rule.approvals_required,
        approver_role=rule.approver_role,
        approval_ttl=rule.approval_ttl,
    )


def identities_of(principal: Principal) -> tuple[str, ...]:
    """The names a call is made under: the JWT subject, then its token roles."""
    return (principal.subject, *principal.roles)


def _closures(links: tuple[RoleLink, ...], tenant: str) -> dict[str, frozenset[str]]:
    """Every name reachable from each member through links valid in `tenant` (ANY: links for all)."""
    edges: dict[str, list[str]] = {}
    for link in links:
        if link.dom == ANY or link.dom == tenant:
            edges.setdefault(link.member, []).append(link.role)
    closures: dict[str, frozenset[str]] = {}
    for member in edges:
        seen = {member}
        stack = [member]
        while stack:
            for role in edges.get(stack.pop(), ()):
                if role not in seen:
                    seen.add(role)
                    stack.append(role)
        closures[member] = frozenset(seen)
    return closures


class PolicyEngine:
    """One loaded policy, immutable once built; swap engines to change policy."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.version: str = policy.version
        self.file_hashes: Mapping[str, str] = dict(policy.files.file_hashes)
        self._decisions = {rule.position: rule_decision(rule, self.version) for rule in policy.rules}
        self._by_subject: dict[str, list[Rule]] = {}
        for rule in policy.rules:
            self._by_subject.setdefault(rule.sub, []).append(rule)
        tenants = {link.dom for link in policy.links if link.dom != ANY}
        # Links for one named tenant add to the links for every tenant; any other tenant
        # (and a caller without one) sees only the latter, stored under ANY.
        self._closures = {tenant: _closures(policy.links, tenant) for tenant in (ANY, *tenants)}
        self._candidates: dict[tuple[str, tuple[str, ...], str, str], tuple[Candidate, ...]] = {}

    @classmethod
    def load(cls, directory: Path) -> PolicyEngine:
        """Load and compile `directory`; raises PolicyError naming file:line and the fault."""
        return cls(load_policy(directory))

    def names_for(self, identities: tuple[str, ...], tenant: str) -> frozenset[str]:
        """The identities plus every role they inherit in `tenant`."""
        closures = self._closures.get(tenant, self._closures[ANY])
        names: set[str] = set()
        for identity in identities:
            names |= closures.get(identity, {identity})
        return frozenset(names)

    def candidates(self, identities: tuple[str, ...], tenant: str, obj: str) -> tuple[Candidate, ...]:
        """Rules whose subject, tenant and tool match, in decision order (conditions not yet checked)."""
        key = (identities[0], identities[1:], tenant, obj)
        found = self._candidates.get(key)
        if found is None:
            rules = [
                rule
                for name in self.names_for(identities, tenant) | {ANY}
                for rule in self._by_subject.get(name, ())
                if (rule.dom == ANY or rule.dom == tenant) and rule.matches_object(obj)
            ]
            rules.sort(key=lambda rule: (EFFECT_ORDER[rule.effect], rule.position))
            found = tuple((rule.condition.test, self._decisions[rule.position], rule) for rule in rules)
            if len(self._candidates) >= CANDIDATE_CACHE_SIZE:
                self._candidates.clear()
            self._candidates[key] = found
        return found

    def clear_cache(self) -> None:
        """Forget the per-(caller, tool) candidate lists (benchmarks measure the cold path with it)."""
        self._candidates.clear()

    def decide(
        self,
        principal: Principal,
        connector: str,
        tool: str,
        arguments: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """Allow, deny or approve; never raises.

        A condition that cannot be evaluated (an argument the call does not carry, a string
        compared with a number) takes the rule's stricter reading: a deny or approve rule
        applies, an allow rule does not. Either way the decision names the rule in
        `unevaluable` and its reason says what failed.
        """
        obj = qualified_name(connector, tool)
        try:
            identities = identities_of(principal)
            ctx = context if context is not None else {}
            skipped: list[tuple[Rule, Exception]] = []
            for test, decision, rule in self.candidates(identities, principal.tenant or "", obj):
                if test is None:
                    return self._noting(decision, skipped)
                try:
                    if test(arguments, ctx):
                        return self._noting(decision, skipped)
                except Exception as exc:
                    if rule.effect is Effect.ALLOW:
                        skipped.append((rule, exc))
                        continue
                    return self._noting(decision, [*skipped, (rule, exc)])
            return self._noting(self.default_deny(identities, obj), skipped)
        except Exception as exc:  # fail closed: whatever else went wrong, the call is denied and says why
            return self.failure(exc)

    @staticmethod
    def _noting(decision: Decision, unevaluable: list[tuple[Rule, Exception]]) -> Decision:
        """The decision with the rules whose conditions failed on the way named in it."""
        if not unevaluable:
            return decision
        failures = "; ".join(
            f"the condition of {rule.location} could not be evaluated ({rule.condition.describe_failure(exc)}),"
            f" so that {rule.effect.value} rule {'did not apply' if rule.effect is Effect.ALLOW else 'applied'}"
            for rule, exc in unevaluable
        )
        return dataclasses.replace(
            decision,
            reason=f"{decision.reason}; {failures}",
            unevaluable=tuple(rule.location for rule, _ in unevaluable),
        )

    def decision_for(self, rule: Rule) -> Decision:
        return self._decisions[rule.position]

    def failure(self, exc: Exception) -> Decision:
        """Fail closed: the decision when evaluating the policy itself went wrong."""
        return Decision(
            effect=Effect.DENY,
            rule=None,
            reason=f"policy evaluation error, denied: {type(exc).__name__}: {exc}",
            policy_version=self.version,
        )

    def default_deny(self, identities: tuple[str, ...], obj: str) -> Decision:
        roles = f" (roles {', '.join(identities[1:])})" if len(identities) > 1 else ""
        return Decision(
            effect=Effect.DENY,
            rule=None,
            reason=f"no rule allows {identities[0]!r}{roles} to call {obj}: denied by default",
            policy_version=self.version,
        )

    def may_need_approval(self, principal: Principal, connector: str, tool: str) -> bool:
        """True when some call of this tool by `principal` could be held for approval: an
        approve rule comes before the first rule that applies whatever the arguments."""
        try:
            found = self.candidates(identities_of(principal), principal.tenant or "", qualified_name(connector, tool))
        except Exception:  # not listed either (may_list)
            return False
        for test, _, rule in found:
            if rule.effect is Effect.APPROVE:
                return True
            if test is None:
                return False
        return False

    def may_list(self, principal: Principal, connector: str, tool: str) -> bool:
        """True when some arguments could be allowed or approved: for tools/list filtering."""
        try:
            found = self.candidates(identities_of(principal), principal.tenant or "", qualified_name(connector, tool))
        except Exception:  # a tool we cannot judge is not shown
            return False
        if any(rule.effect is Effect.DENY and test is None for test, _, rule in found):
            return False
        return any(rule.effect is not Effect.DENY for _, _, rule in found)
