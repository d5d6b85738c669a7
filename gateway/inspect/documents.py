"""A tool result as documents: its structured content and each text block, parsed when it
is JSON so that field paths reach into it too. When a text block is the JSON of the
structured content, as connectors send it, the two share one document and are
transformed once."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from gateway.inspect.screening import hinted
from gateway.models import ToolResult

Document = Any
CONTAINERS = (dict, list)
CONTAINER_SET = frozenset(CONTAINERS)
#: A parsed JSON value holds no cycles: the encoder need not look for them.
encode_json = json.JSONEncoder(ensure_ascii=False, check_circular=False).encode


class Documents:
    """One result as documents: structured content and text blocks (parsed when JSON)."""

    def __init__(self, result: ToolResult) -> None:
        self.result = result
        self.texts: list[Document | str | None] = []
        self.json_text: list[bool] = []
        self.shared: int | None = None
        structured = result.structured
        form = _orjson_form(structured)
        for index, block in enumerate(result.content):
            text = block.get("text") if block.get("type") == "text" else None
            parsed = _parse_as(text, form) if self.shared is None and form is not None else None
            if parsed is not None:
                self.shared = index
            elif isinstance(text, str):
                parsed = parse_json(text)
                if parsed is not None and self.shared is None and structured is not None and parsed == structured:
                    self.shared = index
            self.texts.append(parsed if parsed is not None else text)
            self.json_text.append(parsed is not None)
        self.raw_texts = [str(b.get("text", "")) for b in result.content if b.get("type") == "text"]
        self._joined: str | None = None
        self._hints: frozenset[str] | None = None
        self._lines: tuple[str, list[str]] | None = None
        self.structured: Document | None = None
        if structured is not None:
            self.structured = self.texts[self.shared] if self.shared is not None else json.loads(json.dumps(structured))

    def update(self, fn: Callable[[Document], Document]) -> None:
        """Replace each distinct document by `fn(document)` (documents may change in place)."""
        self._joined = self._hints = self._lines = None
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

    def hints(self) -> frozenset[str]:
        """The screening checks whose substrings are in joined(), found once for all the
        rules that screen this result."""
        if self._hints is None:
            self._hints = hinted(self.joined().lower())
        return self._hints

    def raw(self) -> str | None:
        """The backend's text blocks as one text, when they cover every document and hold no
        `\\u` or `\\/` escapes: a substring absent from it is absent from every string value."""
        if self.structured is not None and self.shared is None:
            return None
        text = "\n".join(t for t in self.raw_texts)
        return None if "\\u" in text or "\\/" in text else text

    def lines(self) -> tuple[str, list[str]]:
        """The distinct single-line strings joined by newlines, and the strings that hold a
        newline. Results repeat values (a city, a status, a note on every row): each is
        tested once, and what is found is applied wherever it occurs."""
        if self._lines is None:
            values: list[str] = []
            for doc in self.all():
                values += strings(doc)
            self.walked(values)
            assert self._lines is not None
        return self._lines

    def walked(self, values: list[str]) -> None:
        """Every string value of every document, as a walk that changed them (redaction)
        found them on its way: lines() needs no walk of its own."""
        found = dict.fromkeys(values)
        text = "\n".join(found)
        # One count over the text spares a test of each value when none holds a newline.
        if text.count("\n") == max(len(found) - 1, 0):
            self._lines = (text, [])
        else:
            self._lines = ("\n".join(t for t in found if "\n" not in t), [t for t in found if "\n" in t])

    def all(self) -> list[Document | None]:
        """Every distinct document, the structured one last (None where a block has no text)."""
        return self.texts if self.shared is not None else [*self.texts, self.structured]

    def size(self) -> int:
        """Bytes of text the agent gets (JSON documents as they will be serialised)."""
        total = 0
        for doc, is_json in zip(self.texts, self.json_text, strict=True):
            if doc is not None:
                total += len((encode_json(doc) if is_json else doc).encode())
        if not total and self.structured is not None:
            total = len(encode_json(self.structured).encode())
        return total

    def rebuild(self, notes: list[str]) -> ToolResult:
        content: list[Mapping[str, Any]] = []
        for block, doc, is_json in zip(self.result.content, self.texts, self.json_text, strict=True):
            if doc is None:
                content.append(block)
            else:
                text = encode_json(doc) if is_json else doc
                content.append({**block, "text": text})
        content += [{"type": "text", "text": note} for note in notes]
        structured = self.structured if self.result.structured is not None else None
        return ToolResult(content=tuple(content), is_error=self.result.is_error, structured=structured)


#: orjson refuses what no JSON parse gives (subclasses, dataclasses, datetimes), as json does.
_EXACT = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME


def _orjson_form(structured: Any) -> bytes | None:
    """The structured content as orjson writes it; None when orjson cannot."""
    if type(structured) is not dict:
        return None
    try:
        return orjson.dumps(structured, option=_EXACT)
    except orjson.JSONEncodeError:
        return None


def _parse_as(text: object, form: bytes) -> Document | None:
    """`text` parsed by orjson, when it is the JSON of the structured content (whose orjson
    form is `form`), as connectors send it: twice as fast as json.loads, and the same
    value: orjson reads integers beyond 64 bits as floats, which would not write as `form`."""
    if not isinstance(text, str) or text[:1] != "{":
        return None
    try:
        value = orjson.loads(text)
        return value if orjson.dumps(value) == form else None
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):  # not JSON; nested deeper than orjson writes
        return None


def parse_json(text: str) -> Document | None:
    if text[:1] not in ("{", "["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def map_strings(value: Document, fn: Callable[[str], str]) -> Document:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        for key, item in value.items():
            value[key] = map_strings(item, fn)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            value[index] = map_strings(item, fn)
    return value


def strings(value: Document) -> list[str]:
    """Every string in `value` (none for a block that is not text). One plain loop over the
    values: the fastest walk measured (bench/bench_inspect.py)."""
    if type(value) is str:
        return [value]
    if type(value) not in CONTAINERS:
        return []
    found: list[str] = []
    keep = found.append
    stack = [value]
    push = stack.append
    while stack:
        item = stack.pop()
        for v in item.values() if type(item) is dict else item:
            kind = type(v)
            if kind is str:
                keep(v)
            elif kind is dict or kind is list:
                push(v)
    return found
