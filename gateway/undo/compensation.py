"""The compensating call of a successful write, resolved from its arguments and result."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from gateway.models import Compensation, ToolResult, qualified_name


def resolve(path: str, arguments: Mapping[str, Any], result: ToolResult) -> Any:
    """`arguments.NAME` or `result.A.B...` (the structured result); KeyError if absent."""
    root, _, rest = path.partition(".")
    node: Any = {"arguments": arguments, "result": result.structured or {}}[root]
    for part in rest.split("."):
        if not isinstance(node, Mapping) or part not in node:
            raise KeyError(path)
        node = node[part]
    return node


def compensation_record(
    connector: str, compensation: Compensation | None, arguments: Mapping[str, Any], result: ToolResult
) -> dict[str, Any] | None:
    """What the audit keeps so the call can be undone later: the tool and its arguments,
    or why they could not be built (the result lacked a value). None: nothing to record."""
    if compensation is None or result.is_error:
        return None
    tool = qualified_name(connector, compensation.tool)
    try:
        built = {name: resolve(path, arguments, result) for name, path in compensation.arguments.items()}
    except KeyError as missing:
        return {"tool": tool, "error": f"the result has no {missing.args[0]}"}
    return {"tool": tool, "arguments": built}
