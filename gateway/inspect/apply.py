"""Applying result rules to one ToolResult (as gateway.inspect.documents holds it). The
outcome says which rules applied and what they did, in counts and paths only: never a value.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.inspect.detectors import masked
from gateway.inspect.documents import Document, Documents, map_strings, strings
from gateway.inspect.limits import cut_lists, lists, shrink
from gateway.inspect.paths import deep_key, replace_keys
from gateway.inspect.rule import Action, ResultRule
from gateway.models import ToolResult

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    """What the rules did to one result."""

    rules: list[str] = field(default_factory=list)
    redacted: dict[str, int] = field(default_factory=dict)
    masked: dict[str, int] = field(default_factory=dict)
    screened: dict[str, int] = field(default_factory=dict)
    truncated: list[str] = field(default_factory=list)
    #: Why the result is withheld from the agent (names the rule); None when it is delivered.
    withheld: str | None = None
    #: Why the result waits for a reviewer (names the rule and what was found, never a value):
    #: a `hold` rule matched. The result, with every other rule applied, is kept for release.
    held: str | None = None
    #: The `hold` rule that matched first (`file:line`).
    held_by: str | None = None

    #: True once a rule changed what the agent gets.
    changed: bool = False

    def record(self) -> dict[str, Any]:
        """The audit fields (empty when no rule applied)."""
        if not self.rules:
            return {}
        data: dict[str, Any] = {"result_rules": list(self.rules)}
        for key in ("redacted", "masked", "screened", "truncated", "withheld", "held"):
            value = getattr(self, key)
            if value:
                data[key] = value
        return data


@dataclass(frozen=True, slots=True)
class Inspected:
    result: ToolResult
    outcome: Outcome
    #: sha256 of the canonical content delivered, when it differs from what the backend sent.
    delivered_digest: str | None = None

    def record(self, backend_digest: str) -> dict[str, Any]:
        """Audit fields: the rules that applied, what they did, the digest of what the agent
        got (none yet when the result is held: `held_digest` is what a reviewer may release)."""
        data = self.outcome.record()
        if not data:
            return data
        digest = self.delivered_digest or backend_digest
        data["delivered_digest"] = None if self.outcome.withheld or self.outcome.held else digest
        if self.outcome.held and not self.outcome.withheld:
            data["held_digest"] = digest
        return data


REDACTED = "[REDACTED]"


#: Rules act in the order _order gives, whatever their order in the files.
def _order(rule: ResultRule) -> int:
    """Refusals first; rows and items are cut before anything is spent on what is cut;
    screens that refuse or hold see the text before any screen strips it; a byte limit is
    measured on what is left after redaction and masking."""
    if rule.action is Action.LIMIT:
        assert rule.limit is not None
        return 0 if rule.mode == "refuse" else 7 if rule.limit[0] == "bytes" else 2
    if rule.action is Action.SCREEN:
        return 5 if rule.mode in ("deny", "hold") else 6
    return {Action.DENY: 1, Action.REDACT: 3, Action.MASK: 4}[rule.action]


Counts = dict[str, int]


def inspect_result(rules: tuple[ResultRule, ...], result: ToolResult) -> Inspected:
    """Apply `rules` (all that apply to this caller and tool) to `result`. Fails closed: a
    result that cannot be inspected (too deeply nested, say) is withheld, never passed on."""
    try:
        return _inspect(rules, result)
    except Exception as exc:  # the backend has answered; what is not inspected does not reach the agent
        log.exception("result inspection failed")
        outcome = Outcome(rules=[rule.location for rule in rules])
        outcome.withheld = f"the result was withheld: it could not be inspected ({type(exc).__name__})"
        return Inspected(result, outcome)


def _inspect(rules: tuple[ResultRule, ...], result: ToolResult) -> Inspected:
    outcome = Outcome(rules=[rule.location for rule in rules])
    if not rules:
        return Inspected(result, outcome)
    docs = Documents(result)
    notes: list[str] = []
    for rule in sorted(rules, key=_order):
        _STEPS[rule.action](rule, docs, outcome, notes)
        if outcome.withheld is not None:
            return Inspected(result, outcome)
    if not outcome.changed:
        return Inspected(result, outcome)
    delivered = docs.rebuild(notes)
    return Inspected(delivered, outcome, sha256_hex(canonical_json([dict(c) for c in delivered.content])))


def _each(docs: Documents, step: Callable[[Document, Counts], Document]) -> Counts:
    """Run `step` on every document. Counts add up over the text blocks; structured content
    parsed apart from them is a second view of the same fields, so it counts only where it
    found more."""
    texts: Counts = {}
    structured: Counts = {}

    def one(doc: Document) -> Document:
        counts: Counts = {}
        separate = docs.shared is None and doc is docs.structured
        new = step(doc, counts)
        _add(structured if separate else texts, counts)
        return new

    docs.update(one)
    return {key: max(texts.get(key, 0), structured.get(key, 0)) for key in texts.keys() | structured.keys()}


def _add(into: Counts, counts: Counts) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value


def _withhold(rule: ResultRule, outcome: Outcome, what: str) -> None:
    """Refuse the result, or, for a rule in `hold` mode, keep it for a reviewer (the first
    hold names the rule; the other rules still apply to what is kept)."""
    purpose = f": {rule.comment}" if rule.comment else ""
    if rule.mode != "hold":
        outcome.withheld = f"the result was withheld by {rule.location}{purpose} ({what})"
    elif outcome.held is None:
        outcome.held = f"the result is held for review by {rule.location}{purpose} ({what})"
        outcome.held_by = rule.location


def _deny(rule: ResultRule, docs: Documents, outcome: Outcome, notes: list[str]) -> None:
    pattern, detector = rule.pattern, rule.detector
    raw = docs.raw()
    if pattern is None and detector is not None and raw is not None and not detector.may_find(raw):
        return None
    joined = docs.joined()
    if (pattern is None or not pattern.search(joined)) and (detector is None or not detector.find(joined)):
        return None
    for doc in docs.all():
        for text in strings(doc):
            if pattern is not None and pattern.search(text):
                # The pattern itself is not told: it would show an agent what to avoid.
                return _withhold(rule, outcome, "it matches the rule's pattern")
            if detector is not None and (found := detector.find(text)):
                return _withhold(rule, outcome, f"it contains {found[0].entity}")
    return None


def _redact(rule: ResultRule, docs: Documents, outcome: Outcome, notes: list[str]) -> None:
    deep = {key: path.text for path in rule.paths if (key := deep_key(path)) is not None}
    others = [path for path in rule.paths if deep_key(path) is None]
    keys = frozenset(deep)
    # The `**.KEY` walk sees every value left when no other path changes one after it.
    seen: list[str] | None = [] if keys and not others else None

    def step(doc: Document, counts: Counts) -> Document:
        for key, found in replace_keys(doc, keys, REDACTED, seen).items() if keys else ():
            counts[deep[key]] = counts.get(deep[key], 0) + found
        for path in others:
            found = path.replace(doc, lambda _: REDACTED)
            if found:
                counts[path.text] = counts.get(path.text, 0) + found
        return doc

    counts = _each(docs, step)
    if seen is not None:
        docs.walked(seen)
    _add(outcome.redacted, counts)
    outcome.changed |= bool(counts)


def _mask(rule: ResultRule, docs: Documents, outcome: Outcome, notes: list[str]) -> None:
    detector = rule.detector
    assert detector is not None
    single, multi = docs.lines()
    found = detector.lines_with_findings(single)
    found.update((text, spans) for text in multi if (spans := detector.find(text)))
    if not found:
        return

    def replace(text: str, counts: Counts) -> str:
        spans = found.get(text)
        return text if spans is None else masked(text, spans, counts)

    counts = _each(docs, lambda doc, c: map_strings(doc, lambda text: replace(text, c)))
    _add(outcome.masked, counts)
    outcome.changed |= bool(counts)


def _screen(rule: ResultRule, docs: Documents, outcome: Outcome, notes: list[str]) -> None:
    screen = rule.screen
    assert screen is not None
    strip = rule.mode == "strip"
    # The values alone (not the keys) after rows were cut: the smallest text to test.
    joined = docs.joined()
    if not screen.may_find(joined, docs.hints()):
        return
    found: Counts = {}
    screen.scan(joined, found, strip=False)
    if not found:
        return
    counts = _each(docs, lambda doc, c: map_strings(doc, lambda text: screen.scan(text, c, strip=strip)))
    if not counts:
        return
    _add(outcome.screened, counts)
    what = ", ".join(f"{check} {n}" for check, n in sorted(counts.items()))
    if rule.mode in ("deny", "hold"):
        _withhold(rule, outcome, f"screening found {what}")
    elif strip:
        outcome.changed = True
        notes.append(f"[gateway] {what} removed from this result by {rule.location}")


def _limit(rule: ResultRule, docs: Documents, outcome: Outcome, notes: list[str]) -> None:
    assert rule.limit is not None
    unit, most = rule.limit
    if unit == "bytes":
        size = docs.size()
        if size <= most:
            return
        if rule.mode == "refuse":
            return _withhold(rule, outcome, f"{size} bytes, more than {most}")
        shrink(docs, most)
        what = f"{size} bytes cut to {docs.size()}"
    elif rule.mode == "refuse":
        longest = max((len(lst) for doc in docs.all() for lst in lists(doc, unit)), default=0)
        if longest <= most:
            return
        return _withhold(rule, outcome, f"{longest} {unit}, more than {most}")
    else:
        longest = 0

        def cut(doc: Document) -> Document:
            nonlocal longest
            longest = max(longest, cut_lists(doc, unit, most))
            return doc

        docs.update(cut)
        if longest <= most:
            return
        what = f"{longest} {unit}, first {most} shown"
    outcome.truncated.append(f"{rule.location}: {what}")
    outcome.changed = True
    notes.append(f"[gateway] result truncated by {rule.location} (limit {unit} {most}): {what}")
    return None


_STEPS: dict[Action, Callable[[ResultRule, Documents, Outcome, list[str]], None]] = {
    Action.DENY: _deny,
    Action.REDACT: _redact,
    Action.MASK: _mask,
    Action.SCREEN: _screen,
    Action.LIMIT: _limit,
}
