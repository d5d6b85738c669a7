"""Cutting a result down: the lists a row or item limit counts, and shrinking to a byte limit."""

from __future__ import annotations

from functools import partial
from typing import Any

from gateway.inspect.documents import CONTAINER_SET, CONTAINERS, Document, Documents


def lists(doc: Document, unit: str) -> list[list[Any]]:
    """Every list in `doc` that the unit counts: any list for items, lists of records for rows."""
    found: list[list[Any]] = []
    if type(doc) not in CONTAINERS:
        return found
    stack = [doc]
    while stack:
        item = stack.pop()
        values = item.values() if type(item) is dict else item
        if type(item) is list and (unit == "items" or (item and type(item[0]) is dict)):
            found.append(item)
        if not CONTAINER_SET.isdisjoint(map(type, values)):
            stack += [v for v in values if type(v) in CONTAINERS]
    return found


def cut_lists(doc: Document, unit: str, most: int) -> int:
    """Cut every list the unit counts to its first `most` entries, in one walk that goes
    only into what is kept; returns the length of the longest list met (0: none)."""
    longest = 0
    if type(doc) not in CONTAINERS:
        return longest
    stack = [doc]
    push = stack.append
    while stack:
        item = stack.pop()
        if type(item) is list and (unit == "items" or (item and type(item[0]) is dict)):
            longest = max(longest, len(item))
            del item[most:]
        for value in item.values() if type(item) is dict else item:
            if type(value) is dict or type(value) is list:
                push(value)
    return longest


def shrink(docs: Documents, most: int) -> None:
    """Cut the longest lists, then plain text, until the result fits in `most` bytes."""
    for _ in range(64):
        size = docs.size()
        if size <= most:
            return
        candidates = [lst for doc in docs.all() for lst in lists(doc, "items") if lst]
        if not candidates:
            break
        longest = max(candidates, key=len)
        keep = min(len(longest) - 1, len(longest) * most // size)
        docs.update(partial(_cut_one, target=longest, keep=keep))
    docs.texts = [
        t.encode()[:most].decode(errors="ignore") if isinstance(t, str) and not is_json else t
        for t, is_json in zip(docs.texts, docs.json_text, strict=True)
    ]


def _cut_one(doc: Document, target: list[Any], keep: int) -> Document:
    for found in lists(doc, "items"):
        if found is target:
            del found[keep:]
    return doc
