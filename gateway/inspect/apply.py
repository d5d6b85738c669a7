"""Applying result rules to one ToolResult: deny, redact, mask, screen, then limit.

A result is held as documents: its structured content and each text block (parsed when it
is JSON, so that field paths reach into it too). When a text block is the JSON of the
structured content, as connectors send it, the two share one document and are
transformed once. The outcome says which rules applied and what they did, in counts and
paths only: never a value.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.inspect.detectors import masked
from gateway.inspect.paths import deep_key, replace_keys
from gateway.inspect.rule import Action, ResultRule
from gateway.models import ToolResult

Document = Any
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
    withheld_by: ResultRule | None = None

    #: True once a rule changed what the agent gets.
    changed: bool = False

    def record(self) -> dict[str, Any]:
        """The audit fields (empty when no rule applied)."""
        if not self.rules:
            return {}
        data: dict[str, Any] = {"result_rules": list(self.rules)}
        for key in ("redacted", "masked", "screened", "truncated", "withheld"):
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
        """Audit fields: the rules that applied, what they did, the digest of what the agent got."""
        data = self.outcome.record()
        if data:
            data["delivered_digest"] = None if self.outcome.withheld else self.delivered_digest or backend_digest
        return data


class _Documents:
    def __init__(self, result: ToolResult) -> None:
        self.result = result
        self.texts: list[Document | str | None] = []
        self.json_text: list[bool] = []
        self.shared: int | None = None
        structured = result.structured
        for index, block in enumerate(result.content):
            text = block.get("text") if block.get("type") == "text" else None
            parsed = _parse_json(text) if isinstance(text, str) else None
            if parsed is not None and self.shared is None and structured is not None and parsed == structured:
                self.shared = index
            self.texts.append(parsed if parsed is not None else text)
            self.json_text.append(parsed is not None)
        self.raw_texts = [str(b.get("text", "")) for b in result.content if b.get("type") == "text"]
        self._joined: str | None = None
        self._lines: tuple[str, list[str]] | None = None
        self.structured: Document | None = None
        if structured is not None:
            self.structured = self.texts[self.shared] if self.shared is not None else json.loads(json.dumps(structured))

    def update(self, fn: Callable[[Document], Document]) -> None:
        """Replace each distinct document by `fn(document)` (documents may change in place)."""
        self._joined = self._lines = None
        for index, doc in enumerate(self.texts):
            if doc is not None:
                self.texts[index] = fn(doc)
        if self.shared is not None:
            self.structured = self.texts[self.shared]
        elif self.structured is not None:
            self.structured = fn(self.structured)

    def joined(self) -> str:
        """Every string of every document, one per line: a rule that finds nothing in this
        one text (one regex pass) needs no walk over the documents."""
        if self._joined is None:
            single, multi = self.lines()
            self._joined = "\n".join([single, *multi])
        return self._joined

    def raw(self) -> str | None:
        """The backend's text blocks as one text, when they cover every document and hold no
        `\\u` escapes: a substring absent from it is absent from every string value."""
        if self.structured is not None and self.shared is None:
            return None
        text = "\n".join(t for t in self.raw_texts)
        return None if "\\u" in text else text

    def lines(self) -> tuple[str, list[str]]:
        """The single-line strings joined by newlines, and the strings that hold a newline."""
        if self._lines is None:
            strings = [text for doc in self.all() for text in _strings(doc)]
            self._lines = ("\n".join(t for t in strings if "\n" not in t), [t for t in strings if "\n" in t])
        return self._lines

    def all(self) -> list[Document | None]:
        """Every distinct document, the structured one last (None where a block has no text)."""
        return self.texts if self.shared is not None else [*self.texts, self.structured]

    def size(self) -> int:
        """Bytes of text the agent gets (JSON documents as they will be serialised)."""
        total = 0
        for doc, is_json in zip(self.texts, self.json_text, strict=True):
            if doc is not None:
                total += len((json.dumps(doc, ensure_ascii=False) if is_json else doc).encode())
        if not total and self.structured is not None:
            total = len(json.dumps(self.structured, ensure_ascii=False).encode())
        return total

    def rebuild(self, notes: list[str]) -> ToolResult:
        content: list[Mapping[str, Any]] = []
        for block, doc, is_json in zip(self.result.content, self.texts, self.json_text, strict=True):
            if doc is None:
                content.append(block)
            else:
                text = json.dumps(doc, ensure_ascii=False) if is_json else doc
                content.append({**block, "text": text})
        content += [{"type": "text", "text": note} for note in notes]
        structured = self.structured if self.result.structured is not None else None
        return ToolResult(content=tuple(content), is_error=self.result.is_error, structured=structured)


def _parse_json(text: str) -> Document | None:
    if text[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def _map_strings(value: Document, fn: Callable[[str], str]) -> Document:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = _map_strings(item, fn)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = _map_strings(item, fn)
    return value


def _strings(value: Document) -> list[str]:
    if type(value) is str:
        return [value]
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        values = item.values() if type(item) is dict else item
        found += [v for v in values if type(v) is str]
        if not _CONTAINER_SET.isdisjoint(map(type, values)):
            stack += [v for v in values if type(v) in _CONTAINERS]
    return found


REDACTED = "[REDACTED]"


#: Rules act in the order _order gives, whatever their order in the files.
def _order(rule: ResultRule) -> int:
    """Refusals first; rows and items are cut before anything is spent on what is cut; a
    byte limit is measured on what is left after redaction and masking."""
    if rule.action is Action.LIMIT:
        assert rule.limit is not None
        return 0 if rule.mode == "refuse" else 6 if rule.limit[0] == "bytes" else 2
    return {Action.DENY: 1, Action.REDACT: 3, Action.MASK: 4, Action.SCREEN: 5}[rule.action]


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
    docs = _Documents(result)
    notes: list[str] = []
    for rule in sorted(rules, key=_order):
        _STEPS[rule.action](rule, docs, outcome, notes)
        if outcome.withheld is not None:
            outcome.withheld_by = rule
            return Inspected(result, outcome)
    if not outcome.changed:
        return Inspected(result, outcome)
    delivered = docs.rebuild(notes)
    return Inspected(delivered, outcome, sha256_hex(canonical_json([dict(c) for c in delivered.content])))


def _each(docs: _Documents, step: Callable[[Document, Counts], Document]) -> Counts:
    """Run `step` on every document; counts are merged by maximum, since the text and the
    structured content of one result are two views of the same fields."""
    total: Counts = {}

    def one(doc: Document) -> Document:
        counts: Counts = {}
        new = step(doc, counts)
        for key, value in counts.items():
            total[key] = max(total.get(key, 0), value)
        return new

    docs.update(one)
    return total


def _add(into: Counts, counts: Counts) -> None:
    for key, value in counts.items():
        into[key] = into.get(key, 0) + value


def _withhold(rule: ResultRule, outcome: Outcome, what: str) -> None:
    purpose = f": {rule.comment}" if rule.comment else ""
    outcome.withheld = f"the result was withheld by {rule.location}{purpose} ({what})"


def _deny(rule: ResultRule, docs: _Documents, outcome: Outcome, notes: list[str]) -> None:
    pattern, detector = rule.pattern, rule.detector
    raw = docs.raw()
    if pattern is None and detector is not None and raw is not None and not detector.may_find(raw):
        return None
    joined = docs.joined()
    if (pattern is None or not pattern.search(joined)) and (detector is None or not detector.find(joined)):
        return None
    for doc in docs.all():
        for text in _strings(doc):
            if pattern is not None and pattern.search(text):
                # The pattern itself is not told: it would show an agent what to avoid.
                return _withhold(rule, outcome, "it matches the rule's pattern")
            if detector is not None and (found := detector.find(text)):
                return _withhold(rule, outcome, f"it contains {found[0].entity}")
    return None


def _redact(rule: ResultRule, docs: _Documents, outcome: Outcome, notes: list[str]) -> None:
    deep = {key: path.text for path in rule.paths if (key := deep_key(path)) is not None}
    others = [path for path in rule.paths if deep_key(path) is None]
    keys = frozenset(deep)

    def step(doc: Document, counts: Counts) -> Document:
        for key, found in replace_keys(doc, keys, REDACTED).items() if keys else ():
            counts[deep[key]] = counts.get(deep[key], 0) + found
        for path in others:
            found = path.replace(doc, lambda _: REDACTED)
            if found:
                counts[path.text] = counts.get(path.text, 0) + found
        return doc

    counts = _each(docs, step)
    _add(outcome.redacted, counts)
    outcome.changed |= bool(counts)


def _mask(rule: ResultRule, docs: _Documents, outcome: Outcome, notes: list[str]) -> None:
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

    counts = _each(docs, lambda doc, c: _map_strings(doc, lambda text: replace(text, c)))
    _add(outcome.masked, counts)
    outcome.changed |= bool(counts)


def _screen(rule: ResultRule, docs: _Documents, outcome: Outcome, notes: list[str]) -> None:
    screen = rule.screen
    assert screen is not None
    strip = rule.mode == "strip"
    # The values alone (not the keys) after rows were cut: the smallest text to test.
    joined = docs.joined()
    if not screen.may_find(joined):
        return
    found: Counts = {}
    screen.scan(joined, found, strip=False)
    if not found:
        return
    counts = _each(docs, lambda doc, c: _map_strings(doc, lambda text: screen.scan(text, c, strip=strip)))
    if not counts:
        return
    _add(outcome.screened, counts)
    what = ", ".join(f"{check} {n}" for check, n in sorted(counts.items()))
    if rule.mode in ("deny", "hold"):
        held = " and is held for review" if rule.mode == "hold" else ""
        _withhold(rule, outcome, f"screening found {what}{held}")
    elif strip:
        outcome.changed = True
        notes.append(f"[gateway] {what} removed from this result by {rule.location}")


def _limit(rule: ResultRule, docs: _Documents, outcome: Outcome, notes: list[str]) -> None:
    assert rule.limit is not None
    unit, most = rule.limit
    if unit == "bytes":
        size = docs.size()
        if size <= most:
            return
        if rule.mode == "refuse":
            return _withhold(rule, outcome, f"{size} bytes, more than {most}")
        _shrink(docs, most)
        what = f"{size} bytes cut to {docs.size()}"
    else:
        longest = max((len(lst) for doc in docs.all() for lst in _lists(doc, unit)), default=0)
        if longest <= most:
            return
        if rule.mode == "refuse":
            return _withhold(rule, outcome, f"{longest} {unit}, more than {most}")
        docs.update(lambda doc: _cut_lists(doc, unit, most))
        what = f"{longest} {unit}, first {most} shown"
    outcome.truncated.append(f"{rule.location}: {what}")
    outcome.changed = True
    notes.append(f"[gateway] result truncated by {rule.location} (limit {unit} {most}): {what}")
    return None


def _lists(doc: Document, unit: str) -> list[list[Any]]:
    """Every list in `doc` that the unit counts: any list for items, lists of records for rows."""
    found: list[list[Any]] = []
    if type(doc) not in _CONTAINERS:
        return found
    stack = [doc]
    while stack:
        item = stack.pop()
        values = item.values() if type(item) is dict else item
        if type(item) is list and (unit == "items" or (item and type(item[0]) is dict)):
            found.append(item)
        if not _CONTAINER_SET.isdisjoint(map(type, values)):
            stack += [v for v in values if type(v) in _CONTAINERS]
    return found


_CONTAINERS = (dict, list)
_CONTAINER_SET = frozenset(_CONTAINERS)


def _cut_lists(doc: Document, unit: str, most: int) -> Document:
    for found in _lists(doc, unit):
        del found[most:]
    return doc


def _shrink(docs: _Documents, most: int) -> None:
    """Cut the longest lists, then plain text, until the result fits in `most` bytes."""
    for _ in range(64):
        size = docs.size()
        if size <= most:
            return
        lists = [lst for doc in docs.all() for lst in _lists(doc, "items") if lst]
        if not lists:
            break
        longest = max(lists, key=len)
        keep = min(len(longest) - 1, len(longest) * most // size)
        docs.update(partial(_cut_one, target=longest, keep=keep))
    docs.texts = [
        t.encode()[:most].decode(errors="ignore") if isinstance(t, str) and not is_json else t
        for t, is_json in zip(docs.texts, docs.json_text, strict=True)
    ]


def _cut_one(doc: Document, target: list[Any], keep: int) -> Document:
    for found in _lists(doc, "items"):
        if found is target:
            del found[keep:]
    return doc


_STEPS: dict[Action, Callable[[ResultRule, _Documents, Outcome, list[str]], None]] = {
    Action.DENY: _deny,
    Action.REDACT: _redact,
    Action.MASK: _mask,
    Action.SCREEN: _screen,
    Action.LIMIT: _limit,
}
