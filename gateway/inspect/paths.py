"""Field paths into a JSON result: `vendors[*].IBAN`, `employee.salary`, `**.salary`.

A path is dot-separated keys; `*` is any key, `[*]` every item of a list, `**` any depth
(the rest of the path is looked for everywhere below). A list met where a key is expected
is walked through, so `rows.salary` also reaches the salary of every row.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEEP = "**"
ANY_KEY = "*"
ITEMS = "[*]"
_STEP = re.compile(r"\[\*\]|[^.\[\]]+")


@dataclass(frozen=True, slots=True)
class FieldPath:
    text: str
    steps: tuple[str, ...]

    def replace(self, value: Any, new: Callable[[Any], Any]) -> int:
        """Replace, in place, every value the path reaches with `new(old)`; returns how many."""
        return _walk(value, self.steps, 0, new)


def parse_path(text: str) -> FieldPath:
    """ValueError saying what is wrong with a path."""
    steps = tuple(_STEP.findall(text))
    if (
        not text
        or "".join(steps) != text.replace(".", "")
        or ".." in text
        or text.startswith(".")
        or text.endswith(".")
    ):
        raise ValueError(
            f"field path {text!r} must be keys separated by dots, with * [*] and ** (e.g. vendors[*].IBAN)"
        )
    if steps[-1] in (DEEP, ITEMS):
        raise ValueError(f"field path {text!r} must end with a key or *")
    return FieldPath(text, steps)


def _walk(value: Any, steps: tuple[str, ...], i: int, new: Callable[[Any], Any]) -> int:
    step = steps[i]
    last = i == len(steps) - 1
    if step == DEEP:
        if isinstance(value, list):
            return sum(_walk(item, steps, i, new) for item in value)
        if not isinstance(value, dict):
            return 0
        count = _walk(value, steps, i + 1, new)
        return count + sum(_walk(child, steps, i, new) for child in list(value.values()))
    if isinstance(value, list):
        # `[*]` consumes the list; a key step passes through it to the items.
        next_i = i + 1 if step == ITEMS else i
        if step == ITEMS and last:
            return 0
        return sum(_walk(item, steps, next_i, new) for item in value)
    if not isinstance(value, dict) or step == ITEMS:
        return 0
    keys = list(value) if step == ANY_KEY else [step] if step in value else []
    count = 0
    for key in keys:
        if last:
            value[key] = new(value[key])
            count += 1
        else:
            count += _walk(value[key], steps, i + 1, new)
    return count


def deep_key(path: FieldPath) -> str | None:
    """The key of a `**.KEY` path (the common form), which replace_keys handles in bulk."""
    if len(path.steps) == 2 and path.steps[0] == DEEP and path.steps[1] not in (ANY_KEY, ITEMS, DEEP):
        return path.steps[1]
    return None


def replace_keys(value: Any, keys: frozenset[str], new: Any, seen: list[str] | None = None) -> dict[str, int]:
    """Replace the value of every key in `keys`, at any depth, with `new`: one walk that
    visits containers only; returns how many of each key. With `seen`, the walk also adds
    every string value left (as gateway.inspect.documents.strings would) to it, sparing
    the rules that read them a second walk."""
    counts: dict[str, int] = {}
    if type(value) is str and seen is not None:
        seen.append(value)
    stack = [value]
    push = stack.append
    while stack:
        item = stack.pop()
        if type(item) is dict:
            for key in keys if len(keys) < len(item) else keys.intersection(item):
                if key in item:
                    item[key] = new
                    counts[key] = counts.get(key, 0) + 1
            values: Any = item.values()
        elif type(item) is list:
            values = item
        else:
            continue
        for child in values:
            kind = type(child)
            if kind is dict or kind is list:
                push(child)
            elif kind is str and seen is not None:
                seen.append(child)
    return counts
