"""Shape limits of a call's arguments, checked before any other work touches them.

Redaction, canonical JSON, schema validation and policy conditions all walk the
arguments recursively; a 500-deep array would end in a RecursionError there, and a
million keys would make each of them slow. One iterative walk here refuses both first,
with an error that says which limit was crossed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from gateway.errors import InvalidArguments


class ArgumentLimits(BaseModel):
    """The `arguments` section of the configuration."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_depth: int = Field(
        default=32, ge=1, le=200, description="Deepest nesting of objects and arrays in a call's arguments."
    )
    max_keys: int = Field(default=10_000, ge=1, description="Object keys at every depth of a call's arguments, in all.")
    max_bytes: int = Field(
        default=1_048_576,
        ge=1024,
        description="Size of a call's arguments as compact JSON, in characters (a number counts 8).",
    )


class ArgumentsOverLimit(InvalidArguments, status=400):
    """The arguments cross a shape limit: refused before anything reads them."""


#: What a number, boolean or null counts toward `max_bytes` (the longest double is 24).
_SCALAR_SIZE = 8
_SCALARS = frozenset({int, float, bool, type(None)})


def check_arguments(arguments: Mapping[str, Any], limits: ArgumentLimits) -> None:
    """Raise ArgumentsOverLimit when `arguments` is deeper, wider or bigger than `limits`.

    Level by level, never recursive: the depth check stops a 10,000-deep array at its
    33rd level, the key count before a huge object's values are looked at."""
    keys = size = depth = 0
    level: list[Any] = [arguments]
    while level:
        depth += 1
        if depth > limits.max_depth:
            raise ArgumentsOverLimit(
                f"invalid arguments: nested deeper than {limits.max_depth} levels (arguments.max_depth)"
            )
        below: list[Any] = []
        for container in level:
            children: Iterable[Any]
            if type(container) is dict or (type(container) is not list and isinstance(container, Mapping)):
                keys += len(container)
                if keys > limits.max_keys:
                    raise ArgumentsOverLimit(
                        f"invalid arguments: more than {limits.max_keys} keys (arguments.max_keys)"
                    )
                size += sum(len(key) for key in container) + 4 * len(container) + 1  # "key":value,
                children = container.values()
            else:
                size += len(container) + 1
                children = container
            for child in children:
                kind = type(child)
                if kind is str:
                    size += len(child) + 2
                elif kind in _SCALARS:
                    size += _SCALAR_SIZE
                elif kind is dict or kind is list or isinstance(child, Mapping | list | tuple):
                    below.append(child)
                else:
                    size += _SCALAR_SIZE
            if size > limits.max_bytes:
                raise ArgumentsOverLimit(
                    f"invalid arguments: larger than {limits.max_bytes} characters as JSON (arguments.max_bytes)"
                )
        level = below


def within_limits(arguments: Mapping[str, Any], limits: ArgumentLimits) -> bool:
    try:
        check_arguments(arguments, limits)
    except ArgumentsOverLimit:
        return False
    return True
