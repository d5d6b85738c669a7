"""Checking test cases against the tools they name: a case whose arguments the tool would
refuse tests a call that can never happen (`gateway policy test --catalog`).

The catalog is what the gateway's REST API lists (`GET /v1/tools`, saved to a file or
fetched with a token): `{"tools": [{"name": ..., "input_schema": {...}}, ...]}`. A bare list
and MCP's `inputSchema` spelling are read too.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from gateway.catalog import argument_problem
from gateway.errors import GatewayError
from gateway.models import ToolSpec, split_qualified_name
from gateway.policy.cases import Case


class CatalogUnavailable(GatewayError):
    """The catalog could not be read; the message says where and why."""


def _specs(document: Any, source: str) -> dict[str, ToolSpec]:
    tools = document.get("tools") if isinstance(document, dict) else document
    if not isinstance(tools, list):
        raise CatalogUnavailable(f"{source}: expected a list of tools or an object with 'tools'")
    specs: dict[str, ToolSpec] = {}
    for tool in tools:
        name = tool.get("name") if isinstance(tool, dict) else None
        parts = split_qualified_name(name) if isinstance(name, str) else None
        schema = tool.get("input_schema", tool.get("inputSchema")) if isinstance(tool, dict) else None
        if not isinstance(name, str) or parts is None or not isinstance(schema, dict):
            raise CatalogUnavailable(f"{source}: every tool needs a 'connector.tool' name and an input schema")
        specs[name] = ToolSpec(connector=parts[0], name=parts[1], input_schema=schema)
    return specs


def load_catalog(source: str, token: str | None = None) -> dict[str, ToolSpec]:
    """The tools of a catalog file, or of a running gateway at an http(s) URL (with `token`)."""
    if source.startswith(("http://", "https://")):
        base = source.rstrip("/").removesuffix("/mcp").removesuffix("/v1/tools")
        if not token:
            raise CatalogUnavailable(f"{base}: a token is needed to list the gateway's tools (--token)")
        try:
            response = httpx.get(f"{base}/v1/tools", headers={"Authorization": f"Bearer {token}"}, timeout=15.0)
            response.raise_for_status()
            return _specs(response.json(), f"{base}/v1/tools")
        except (httpx.HTTPError, ValueError) as exc:
            raise CatalogUnavailable(f"{base}/v1/tools: {exc}") from None
    try:
        return _specs(json.loads(Path(source).read_text(encoding="utf-8")), source)
    except (OSError, ValueError) as exc:
        raise CatalogUnavailable(f"{source}: {exc}") from None


def unchecked_connectors(cases: Iterable[Case], specs: Mapping[str, ToolSpec]) -> list[str]:
    """Connectors that cases name but the catalog lacks entirely (not listed to this caller)."""
    present = {spec.connector for spec in specs.values()}
    return sorted({case.connector for case in cases} - present)


def case_schema_problems(cases: Iterable[Case], specs: Mapping[str, ToolSpec]) -> list[str]:
    """One line per case whose tool its connector lacks, or whose arguments the tool refuses.
    Cases of connectors the catalog does not list at all are left out (unchecked_connectors)."""
    problems = []
    present = {spec.connector for spec in specs.values()}
    for case in cases:
        if case.connector not in present:
            continue
        name = f"{case.connector}.{case.tool}"
        spec = specs.get(name)
        if spec is None:
            problems.append(f"{case.location} {case.name!r}: tool {name} is not in the catalog")
            continue
        problem = argument_problem(spec, case.arguments)
        if problem is not None:
            problems.append(f"{case.location} {case.name!r}: the tool would refuse these arguments: {problem}")
    return problems
