"""What is pinned of a tool, its digest, and a readable diff between two definitions."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.models import ToolSpec


def definition(spec: ToolSpec) -> dict[str, Any]:
    """Everything an agent is told about the tool: a change to any of it changes the digest."""
    return {
        "name": spec.name,
        "title": spec.title,
        "description": spec.description,
        "input_schema": dict(spec.input_schema),
        "output_schema": dict(spec.output_schema) if spec.output_schema is not None else None,
        "annotations": dict(spec.annotations) if spec.annotations is not None else None,
    }


def digest(defined: Mapping[str, Any]) -> str:
    return sha256_hex(canonical_json(defined))


def readable_diff(old: Mapping[str, Any] | None, new: Mapping[str, Any], name: str) -> str:
    """A unified diff of the two definitions as indented JSON (all of `new` when there is no `old`)."""

    def lines(value: Mapping[str, Any] | None) -> list[str]:
        if value is None:
            return []
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines(keepends=True)

    before, after = ("approved", "proposed") if old is not None else ("(none)", "proposed")
    return "".join(difflib.unified_diff(lines(old), lines(new), f"{name} {before}", f"{name} {after}"))
