"""Shape limits of a call's arguments, checked before any other work touches them.

Redaction, canonical JSON, schema validation and policy conditions all walk the
arguments recursively; a 500-deep array would end in a RecursionError there, and a
million keys would make each of them slow. One iterative walk here refuses both first,
with an error that says which limit was crossed.
"""

from __future__ import annotations

from collections.abc import Mapping
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
        description="Size of a call's arguments as compact UTF-8 JSON (escapes not counted).",
    )


class ArgumentsOverLimit(InvalidArguments):
    """The arguments cross a shape limit: refused before anything reads them."""

    status = 400


def _scalar_size(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode("utf-8", "surrogatepass")) + 2
    return len(str(value)) if value is not None else 4


def check_arguments(arguments: Mapping[str, Any], limits: ArgumentLimits) -> None:
    """Raise ArgumentsOverLimit when `arguments` is deeper, wider or bigger than `limits`."""
    keys = 0
    size = 0
    stack: list[tuple[Any, int]] = [(arguments, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping | list | tuple):
            if depth > limits.max_depth:
                raise ArgumentsOverLimit(
                    f"invalid arguments: nested deeper than {limits.max_depth} levels (arguments.max_depth)"
                )
            size += 2 + max(len(value) - 1, 0)
            if isinstance(value, Mapping):
                keys += len(value)
                size += sum(_scalar_size(str(k)) + 1 for k in value)
                stack.extend((v, depth + 1) for v in value.values())
            else:
                stack.extend((v, depth + 1) for v in value)
        else:
            size += _scalar_size(value)
        if keys > limits.max_keys:
            raise ArgumentsOverLimit(f"invalid arguments: more than {limits.max_keys} keys (arguments.max_keys)")
        if size > limits.max_bytes:
            raise ArgumentsOverLimit(
                f"invalid arguments: larger than {limits.max_bytes} bytes as JSON (arguments.max_bytes)"
            )


def within_limits(arguments: Mapping[str, Any], limits: ArgumentLimits) -> bool:
    try:
        check_arguments(arguments, limits)
    except ArgumentsOverLimit:
        return False
    return True
