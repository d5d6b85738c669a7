"""The reference evaluator: pycasbin's enforcer running policies/model.conf over the same rows.

Slow (it walks every row per matcher), so it serves the differential test, the benchmark
and anyone who wants to check the fast path by hand, never the call path. Two things are
done once instead of per call, neither changing an answer: the matcher text is parsed once
(pycasbin re-parses it on every enforce) and globMatch, a pure function, is memoized.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from typing import Any

import casbin
from casbin.core_enforcer import CoreEnforcer, EnforceContext
from casbin.util import escape_assertion, glob_match, key_match
from casbin.util.expression import SimpleEval

from gateway.models import Decision, Principal, qualified_name
from gateway.policy.engine import PolicyEngine, identities_of
from gateway.policy.loader import Policy
from gateway.policy.model import MATCHERS, SUPPORTED_MODEL
from gateway.policy.rules import ANY


class _ParsedOnceEnforcer(casbin.Enforcer):  # type: ignore[misc]  # pycasbin is untyped
    def __init__(self, model: casbin.model.Model) -> None:
        self._expressions: dict[str, SimpleEval] = {}
        super().__init__(model)

    def _get_expression(self, expr: str, functions: Any = None) -> SimpleEval:
        expression = self._expressions.get(expr)
        if expression is None:
            expression = self._expressions[expr] = CoreEnforcer._get_expression(expr, functions)
        return expression


class ReferenceEvaluator:
    """Decides like PolicyEngine.decide, but by asking pycasbin, one matcher per outcome."""

    def __init__(self, policy: Policy) -> None:
        self._engine = PolicyEngine(policy)
        self._by_row = {rule.row: rule for rule in policy.rules}
        model = casbin.model.Model()
        model.load_model_from_text(SUPPORTED_MODEL)
        enforcer = _ParsedOnceEnforcer(model)
        enforcer.add_named_domain_matching_func("g", key_match)
        role_manager = enforcer.get_named_role_manager("g")
        # Casbin's evaluator (simpleeval) on the condition text, parsed once per distinct text.
        parsed: dict[str, SimpleEval] = {}
        # The gateway's stricter reading of a condition that raises: true under the deny and
        # approve matchers, false under the allow matcher (set per enforce_ex call).
        self._reading = {"strict": True}
        self._unevaluable: list[str] = []

        def cond(text: str, args: Mapping[str, Any], ctx: Mapping[str, Any]) -> Any:
            evaluator = parsed.get(text)
            if evaluator is None:
                # Casbin's own rewriting of && || ! and of r.args.x, as for a matcher.
                evaluator = parsed[text] = CoreEnforcer._get_expression(escape_assertion(text))
            try:
                return evaluator.eval({"r_args": args, "r_ctx": ctx, "true": True, "false": False})
            except Exception:
                self._unevaluable.append(text)
                return self._reading["strict"]

        def has_role(identities: tuple[str, ...], role: str, tenant: str) -> bool:
            return role == ANY or any(role_manager.has_link(name, role, tenant) for name in identities)

        enforcer.add_function("globMatch", functools.lru_cache(maxsize=65536)(glob_match))
        enforcer.add_function("cond", cond)
        enforcer.add_function("hasRole", has_role)
        if policy.links:
            enforcer.add_named_grouping_policies("g", [list(link.row) for link in policy.links])
        enforcer.add_named_policies("p", [list(rule.row) for rule in policy.rules])
        enforcer.build_role_links()
        self._enforcer = enforcer
        self._contexts = [EnforceContext("r", "p", "e", name) for name, _ in MATCHERS]

    def decide(
        self,
        principal: Principal,
        connector: str,
        tool: str,
        arguments: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        identities = identities_of(principal)
        obj = qualified_name(connector, tool)
        tenant = principal.tenant or ""
        self._unevaluable.clear()
        decision = self._engine.default_deny(identities, obj)
        try:
            for (_, effect), enforce_context in zip(MATCHERS, self._contexts, strict=True):
                self._reading["strict"] = effect != "allow"
                matched, row = self._enforcer.enforce_ex(
                    enforce_context, identities, tenant, obj, arguments, context or {}
                )
                if matched:
                    decision = self._engine.decision_for(self._by_row[tuple(row)])
                    break
        except Exception as exc:
            return self._engine.failure(exc)
        # Only how many conditions failed is known here (the text, not the row): enough to
        # compare with the fast path, which names the rules.
        return dataclasses.replace(decision, unevaluable=tuple(self._unevaluable))
