"""JSON Schema pieces the connectors' tool definitions share."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def arguments_schema(properties: dict[str, Any], required: Iterable[str] = ()) -> dict[str, Any]:
    """A tool's input schema: an object with these properties (`required` among them) and no
    other, so a misspelled argument is refused rather than ignored."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}
