"""The slice of OData V2 query syntax the SAP stub serves and the SAP connector writes:
`$filter` (comparisons, and/or/not, parentheses, substringof/startswith/endswith),
`$orderby`, `$select`, `$top`, `$skip`.

The connector only ever builds filters through `literal()`, so an agent's text can never
change the shape of a filter (the OData equivalent of SQL injection).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any

from gateway.errors import InvalidInput

Row = Mapping[str, Any]
Predicate = Callable[[Row], bool]


class ODataError(InvalidInput):
    """A query option the service cannot parse; the message says where."""


def literal(value: str | int | float | Decimal | bool) -> str:
    """An OData V2 literal for `value`; quotes in text are doubled, as the grammar requires."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return f"{Decimal(str(value))}M"


_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<number>-?\d+(?:\.\d+)?[MmDdLl]?)|(?P<punct>[(),])"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_]*))"
)
_COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
}
_FUNCTIONS: dict[str, Callable[[str, str], bool]] = {
    # substringof(needle, haystack) is the V2 argument order.
    "substringof": lambda needle, haystack: needle.lower() in haystack.lower(),
    "startswith": lambda text, prefix: text.startswith(prefix),
    "endswith": lambda text, suffix: text.endswith(suffix),
}


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        match = _TOKEN.match(text, pos)
        if match is None or match.end() == pos:
            raise ODataError(f"unexpected character at position {pos}: {text[pos : pos + 10]!r}")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    def __init__(self, text: str, fields: Sequence[str]) -> None:
        self.tokens = _tokens(text)
        self.pos = 0
        self.fields = set(fields)

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None, *, what: str | None = None) -> tuple[str, str]:
        """The next token; it must be `expected` when given. `what` names it in errors."""
        token = self.peek()
        if token is None:
            raise ODataError(f"unexpected end of expression, expected {what or repr(expected)}")
        if expected is not None and token[1] != expected:
            raise ODataError(f"expected {expected!r}, found {token[1]!r}")
        self.pos += 1
        return token

    def parse(self) -> Predicate:
        predicate = self.disjunction()
        extra = self.peek()
        if extra is not None:
            raise ODataError(f"unexpected {extra[1]!r} after a complete expression")
        return predicate

    def disjunction(self) -> Predicate:
        terms = [self.conjunction()]
        while self.peek() == ("word", "or"):
            self.take()
            terms.append(self.conjunction())
        return terms[0] if len(terms) == 1 else lambda row: any(t(row) for t in terms)

    def conjunction(self) -> Predicate:
        terms = [self.negation()]
        while self.peek() == ("word", "and"):
            self.take()
            terms.append(self.negation())
        return terms[0] if len(terms) == 1 else lambda row: all(t(row) for t in terms)

    def negation(self) -> Predicate:
        if self.peek() == ("word", "not"):
            self.take()
            inner = self.negation()
            return lambda row: not inner(row)
        return self.primary()

    def primary(self) -> Predicate:
        token = self.peek()
        if token == ("punct", "("):
            self.take()
            inner = self.disjunction()
            self.take(")")
            return inner
        if token is not None and token[1] in _FUNCTIONS:
            return self.function()
        left = self.operand()
        _, op = self.take(what="a comparison operator")
        if op not in _COMPARISONS:
            raise ODataError(f"unknown operator {op!r} (use eq, ne, gt, ge, lt, le)")
        right = self.operand()
        compare = _COMPARISONS[op]

        def predicate(row: Row) -> bool:
            a, b = _coerce(left(row), right(row))
            if op in ("eq", "ne"):
                return compare(a, b)
            try:
                return a is not None and b is not None and compare(a, b)
            except TypeError:  # text against number: no match, as in SAP
                return False

        return predicate

    def function(self) -> Predicate:
        _, name = self.take()
        self.take("(")
        first = self.operand()
        self.take(",")
        second = self.operand()
        self.take(")")
        apply = _FUNCTIONS[name]
        return lambda row: apply(str(first(row) or ""), str(second(row) or ""))

    def operand(self) -> Callable[[Row], Any]:
        kind, text = self.take(what="a field or a literal")
        if kind == "string":
            value: Any = text[1:-1].replace("''", "'")
            return lambda _row: value
        if kind == "number":
            value = Decimal(text.rstrip("MmDdLl"))
            return lambda _row: value
        if kind == "word" and text in ("true", "false", "null"):
            value = {"true": True, "false": False, "null": None}[text]
            return lambda _row: value
        if kind == "word":
            if text not in self.fields:
                raise ODataError(f"property {text!r} does not exist")
            return lambda row: row.get(text)
        raise ODataError(f"expected a field or a literal, found {text!r}")


def _coerce(a: Any, b: Any) -> tuple[Any, Any]:
    """Edm.Decimal travels as a string in V2 JSON; compare it as a number with number literals."""
    try:
        if isinstance(a, Decimal) and isinstance(b, str):
            return a, Decimal(b)
        if isinstance(b, Decimal) and isinstance(a, str):
            return Decimal(a), b
    except InvalidOperation:
        pass
    return a, b


def parse_filter(text: str, fields: Sequence[str]) -> Predicate:
    return _Parser(text, fields).parse()


def parse_orderby(text: str, fields: Sequence[str]) -> list[tuple[str, bool]]:
    """`Field [asc|desc], ...` as (field, descending) pairs."""
    order: list[tuple[str, bool]] = []
    for part in text.split(","):
        words = part.split()
        if not words or len(words) > 2 or (len(words) == 2 and words[1] not in ("asc", "desc")):
            raise ODataError(f"invalid $orderby clause {part.strip()!r}")
        if words[0] not in fields:
            raise ODataError(f"property {words[0]!r} does not exist")
        order.append((words[0], len(words) == 2 and words[1] == "desc"))
    return order


def parse_select(text: str, fields: Sequence[str]) -> list[str]:
    selected = [f.strip() for f in text.split(",") if f.strip()]
    unknown = [f for f in selected if f not in fields]
    if unknown:
        raise ODataError(f"property {unknown[0]!r} does not exist")
    return selected


def parse_count(name: str, text: str) -> int:
    if not text.isdigit():
        raise ODataError(f"{name} must be a non-negative integer, got {text!r}")
    return int(text)


def sort_rows(rows: list[dict[str, Any]], order: list[tuple[str, bool]], numeric: set[str]) -> list[dict[str, Any]]:
    for field, descending in reversed(order):
        key = (lambda r, f=field: Decimal(r[f])) if field in numeric else (lambda r, f=field: str(r[f]))
        rows = sorted(rows, key=key, reverse=descending)
    return rows


#: A modifying request with this header set to `X` is a test run (BAPI TESTRUN = 'X'):
#: checked and answered with what would be stored, nothing stored; the answer echoes it.
TEST_RUN_HEADER = "x-sap-testrun"
