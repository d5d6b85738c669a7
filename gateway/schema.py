"""JSON Schema validation as the schema's author meant it, not as Python reads it.

jsonschema checks `pattern` with Python's `re.search`, whose dialect differs from the
ECMA-262 one JSON Schema specifies: `$` also matches before a trailing newline (so
`"EUR\\n"` passes `^[A-Z]{3}$` and reaches the backend), and `\\d` and `\\w` take any
Unicode digit or letter. Patterns here run on `regress`, an ECMA-262 engine (the Rust
crate behind several JavaScript engines' test suites, as a wheel), in Unicode (`u`) mode
as JSON Schema 2020-12 recommends. Translating patterns into Python's dialect instead
would mean parsing them (`$` inside a class, `\\$`, `(?<name>)`, `\\u{...}`, lookbehind
rules): a second regex parser to get right, where the engine gets the semantics for free.

`multipleOf` runs on decimals, on the number as written: in binary floats 19.99 / 0.01 is
1998.9999999999998, so jsonschema refuses 19.99, 4.35 or 0.07 EUR as "not a multiple of
0.01" while 9999.99 happens to pass.
"""

from __future__ import annotations

import decimal
import functools
import math
from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
import regress
from jsonschema.protocols import Validator

#: Enough digits for the exact quotient of any two doubles (about 10**632 at most).
_EXACT = decimal.Context(prec=800, Emax=decimal.MAX_EMAX, Emin=decimal.MIN_EMIN)


class BadPattern(ValueError):
    """A schema's pattern is not an ECMA-262 regular expression."""


@functools.lru_cache(maxsize=4096)
def _regex(pattern: str) -> regress.Regex:
    try:
        return regress.Regex(pattern, flags="u")
    except regress.RegressError as exc:
        raise BadPattern(f"the tool's schema has an invalid pattern {pattern!r}: {exc}") from None


def ecma_search(pattern: str, text: str) -> bool:
    """Whether `pattern` matches anywhere in `text`, by ECMA-262 rules (unanchored, as JSON Schema)."""
    return _regex(pattern).find(text) is not None


def _pattern(validator: Validator, pattern: str, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if not validator.is_type(instance, "string"):
        return
    try:
        matched = ecma_search(pattern, instance)
    except BadPattern as exc:
        # Fail closed: a rule nobody can evaluate admits nothing.
        yield jsonschema.ValidationError(str(exc))
        return
    if not matched:
        yield jsonschema.ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(
    validator: Any,  # jsonschema's Validator protocol does not declare descend()
    patterns: Mapping[str, Any],
    instance: Any,
    schema: Mapping[str, Any],
) -> Iterator[Any]:
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for name, value in instance.items():
            try:
                matched = ecma_search(pattern, name)
            except BadPattern as exc:
                yield jsonschema.ValidationError(str(exc))
                return
            if matched:
                yield from validator.descend(value, subschema, path=name, schema_path=pattern)


def _decimal(number: int | float) -> decimal.Decimal:
    # repr() is the shortest text that reads back as the same double: the number as written.
    return decimal.Decimal(repr(number)) if isinstance(number, float) else decimal.Decimal(number)


def is_multiple(instance: int | float, factor: int | float) -> bool:
    """Exact decimal `instance % factor == 0` (0.01 divides 9999.99 but not 9999.999)."""
    if isinstance(instance, float) and not math.isfinite(instance):
        return False
    try:
        return _EXACT.remainder(_decimal(instance), _decimal(factor)).is_zero()
    except decimal.InvalidOperation:  # a zero factor, or an integer beyond any double
        return False


def _multiple_of(validator: Validator, factor: int | float, instance: Any, schema: Mapping[str, Any]) -> Iterator[Any]:
    if validator.is_type(instance, "number") and not is_multiple(instance, factor):
        yield jsonschema.ValidationError(f"{instance!r} is not a multiple of {factor!r}")


@functools.cache
def _strict(base: type[Validator]) -> type[Validator]:
    keywords = {"pattern": _pattern, "patternProperties": _pattern_properties, "multipleOf": _multiple_of}
    extended: type[Validator] = jsonschema.validators.extend(base, keywords)  # type: ignore[no-untyped-call]
    return extended


def validator_for(schema: Mapping[str, Any]) -> Validator:
    """A validator of `schema` (its own `$schema` dialect, 2020-12 by default) with ECMA-262
    patterns and exact `multipleOf`."""
    base = jsonschema.validators.validator_for(schema, default=jsonschema.Draft202012Validator)
    cls = _strict(base)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)
