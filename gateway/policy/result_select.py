"""Which result rules apply to a caller and a tool: subject or role, tenant, tool glob, and
none of the caller's names among the rule's exceptions."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from gateway.inspect.rule import ResultRule
from gateway.models import Principal, qualified_name
from gateway.policy.rules import ANY

#: Distinct (caller, tool) pairs remembered, as for call decisions.
CACHE_SIZE = 50_000

NamesFor = Callable[[tuple[str, ...], str], frozenset[str]]


def applies(rule: ResultRule, names: frozenset[str], tenant: str) -> str | None:
    """None when the rule applies; otherwise why not (for `policy explain`)."""
    if rule.sub != ANY and rule.sub not in names:
        return f"subject: rule is for {rule.sub!r}"
    if rule.dom not in (ANY, tenant):
        return f"tenant: rule is for {rule.dom!r}, the caller's tenant is {tenant or '(none)'!r}"
    exempt = sorted(rule.exempt & names)
    if exempt:
        return f"except: the caller is {', '.join(exempt)}"
    return None


class ResultRuleSelector:
    def __init__(self, rules: Iterable[ResultRule], names_for: NamesFor) -> None:
        self.rules = tuple(rules)
        self._names_for = names_for
        self._cache: dict[tuple[tuple[str, ...], str, str], tuple[ResultRule, ...]] = {}

    def for_call(self, principal: Principal, connector: str, tool: str) -> tuple[ResultRule, ...]:
        if not self.rules:
            return ()
        identities = (principal.subject, *principal.roles)
        tenant = principal.tenant or ""
        obj = qualified_name(connector, tool)
        key = (identities, tenant, obj)
        found = self._cache.get(key)
        if found is None:
            names = self._names_for(identities, tenant)
            found = tuple(r for r in self.rules if r.matches_object(obj) and applies(r, names, tenant) is None)
            if len(self._cache) >= CACHE_SIZE:
                self._cache.clear()
            self._cache[key] = found
        return found

    def for_definition(self, connector: str, tool: str) -> tuple[ResultRule, ...]:
        """Screen rules for everyone (subject and tenant `*`, no exceptions): they also screen
        the tool's description when its definition is pinned."""
        obj = qualified_name(connector, tool)
        return tuple(
            r
            for r in self.rules
            if r.screen is not None and r.sub == ANY and r.dom == ANY and not r.exempt and r.matches_object(obj)
        )
