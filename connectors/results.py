"""Tool results as connectors return them: the JSON as text for any MCP client, and the
same object as structured content for clients that read it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from gateway.models import ToolResult


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_result(data: Mapping[str, Any]) -> ToolResult:
    text = json.dumps(data, ensure_ascii=False, default=_plain)
    return ToolResult(content=({"type": "text", "text": text},), structured=json.loads(text))
