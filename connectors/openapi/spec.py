"""An OpenAPI 3.0/3.1 document turned into tool definitions: each operation becomes a tool
whose input schema holds its path, query and header parameters and, as `body`, its JSON
request body. Local `$ref`s are inlined; OpenAPI 3.0 dialect (`nullable`, boolean
`exclusiveMinimum`) is rewritten to JSON Schema 2020-12 so the gateway can validate."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from connectors.schemas import arguments_schema
from gateway.errors import InvalidInput

log = logging.getLogger(__name__)

METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
READ_METHODS = frozenset({"get", "head", "options"})
#: OpenAPI says these header parameters SHALL be ignored: the client sets them.
_IGNORED_HEADERS = frozenset({"accept", "content-type", "authorization"})
_KEEP = frozenset(
    {
        "type",
        "enum",
        "const",
        "format",
        "pattern",
        "minLength",
        "maxLength",
        "minimum",
        "maximum",
        "exclusiveMinimum",
        "exclusiveMaximum",
        "multipleOf",
        "items",
        "minItems",
        "maxItems",
        "uniqueItems",
        "properties",
        "required",
        "additionalProperties",
        "allOf",
        "anyOf",
        "oneOf",
        "not",
        "description",
        "default",
        "title",
        "minProperties",
        "maxProperties",
        "prefixItems",
    }
)


class SpecError(InvalidInput):
    """The document cannot be turned into tools; the message names the place."""


@dataclass(frozen=True, slots=True)
class Parameter:
    name: str  # in the HTTP request
    location: str  # path, query or header
    argument: str  # in the tool's arguments


@dataclass(frozen=True, slots=True)
class Operation:
    tool: str
    method: str
    path: str
    description: str
    input_schema: Mapping[str, Any]
    parameters: tuple[Parameter, ...]
    #: Media type of the JSON request body, None when the operation takes none.
    body_media: str | None
    read_only: bool


class _Resolver:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def ref(self, pointer: str, where: str) -> Any:
        if not pointer.startswith("#/"):
            raise SpecError(f"{where}: only local references are supported, got {pointer!r}")
        node: Any = self.document
        for part in pointer[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            if not isinstance(node, Mapping) or part not in node:
                raise SpecError(f"{where}: reference {pointer!r} does not resolve")
            node = node[part]
        return node

    def deref(self, node: Any, where: str) -> Any:
        seen: set[str] = set()
        while isinstance(node, Mapping) and "$ref" in node:
            if node["$ref"] in seen:
                raise SpecError(f"{where}: reference cycle at {node['$ref']!r}")
            seen.add(node["$ref"])
            node = self.ref(node["$ref"], where)
        return node

    def schema(self, node: Any, where: str, stack: tuple[str, ...] = ()) -> dict[str, Any]:
        """`node` as self-contained JSON Schema 2020-12."""
        if isinstance(node, bool):
            return {} if node else {"not": {}}
        if not isinstance(node, Mapping):
            raise SpecError(f"{where}: a schema must be an object")
        if "$ref" in node:
            pointer = node["$ref"]
            if pointer in stack:
                return {}  # a recursive type: accept anything below this depth
            return self.schema(self.ref(pointer, where), where, (*stack, pointer))
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key not in _KEEP:
                continue
            if key == "properties":
                out[key] = {name: self.schema(v, f"{where}.{name}", stack) for name, v in value.items()}
            elif key in ("items", "additionalProperties", "not") and not isinstance(value, bool):
                out[key] = self.schema(value, where, stack)
            elif key in ("allOf", "anyOf", "oneOf", "prefixItems"):
                out[key] = [self.schema(v, where, stack) for v in value]
            else:
                out[key] = value
        # OpenAPI 3.0 dialect.
        for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
            if out.get(bound) is True and limit in out:
                out[bound] = out.pop(limit)
            elif out.get(bound) is False:
                del out[bound]
        if node.get("nullable") is True:
            if "type" in out:
                types = out["type"] if isinstance(out["type"], list) else [out["type"]]
                out["type"] = [*types, "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        return out


def _tool_name(operation: Mapping[str, Any], method: str, path: str) -> str:
    raw = operation.get("operationId") or f"{method}_{path}"
    name = re.sub(r"[^A-Za-z0-9_-]+", "_", str(raw)).strip("_")
    return name[:64] or f"{method}_root"


def operations(document: Mapping[str, Any], only: Iterable[str] | None = None) -> list[Operation]:
    if not isinstance(document, Mapping) or not str(document.get("openapi", "")).startswith("3."):
        raise SpecError("not an OpenAPI 3 document (the 'openapi' field must be 3.x)")
    resolver = _Resolver(document)
    candidates = []
    for path, item in (document.get("paths") or {}).items():
        item = resolver.deref(item, f"paths.{path}")
        for method in METHODS:
            if method in item:
                candidates.append((_tool_name(item[method], method, path), method, path, item))
    names = [name for name, *_ in candidates]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"operationId {duplicates[0]!r} is used more than once")
    wanted = names if only is None else list(only)
    missing = [n for n in wanted if n not in names]
    if missing:
        raise SpecError(f"operation {missing[0]!r} is not in the document (it has: {', '.join(names)})")
    # Only the chosen operations are translated: one the gateway does not offer may use
    # features this module does not support. Without a chosen list, such operations are
    # left out (and logged); a chosen one that cannot be translated is an error.
    found = []
    for name, method, path, item in candidates:
        if name not in wanted:
            continue
        where = f"paths.{path}.{method}"
        try:
            found.append(_operation(resolver, name, item[method], method, path, item.get("parameters", []), where))
        except SpecError as exc:
            if only is not None:
                raise
            log.warning("OpenAPI operation %s left out: %s", name, exc)
    return found


def _operation(
    resolver: _Resolver, tool: str, operation: Mapping[str, Any], method: str, path: str, shared: list[Any], where: str
) -> Operation:
    declared: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*shared, *operation.get("parameters", [])]:
        param = resolver.deref(raw, where)
        declared[(param["name"], param["in"])] = param  # operation-level wins over path-level
    properties: dict[str, Any] = {}
    required: list[str] = []
    parameters: list[Parameter] = []
    names = [name for name, location in declared if location in ("path", "query", "header")]
    for (name, location), param in declared.items():
        if location == "cookie" or (location == "header" and name.lower() in _IGNORED_HEADERS):
            continue
        if location not in ("path", "query", "header"):
            raise SpecError(f"{where}: parameter {name!r} has unknown location {location!r}")
        argument = name if names.count(name) == 1 else f"{location}_{name}"
        schema = resolver.schema(param.get("schema", {}), f"{where}.parameters.{name}")
        if param.get("description") and "description" not in schema:
            schema["description"] = param["description"]
        properties[argument] = schema
        if location == "path" or param.get("required"):
            required.append(argument)
        parameters.append(Parameter(name, location, argument))
    body = resolver.deref(operation.get("requestBody"), where) if "requestBody" in operation else None
    media = None
    if body is not None:
        content = body.get("content", {})
        media = next((m for m in content if m == "application/json" or m.endswith("+json")), None)
        if media is None:
            raise SpecError(f"{where}: only JSON request bodies are supported (found {', '.join(content)})")
        if "body" in properties:
            raise SpecError(f"{where}: a parameter named 'body' collides with the request body")
        properties["body"] = resolver.schema(content[media].get("schema", {}), f"{where}.requestBody")
        if body.get("required"):
            required.append("body")
    text = " ".join(str(operation[k]).strip() for k in ("summary", "description") if operation.get(k))
    return Operation(
        tool=tool,
        method=method.upper(),
        path=path,
        description=text or f"{method.upper()} {path}",
        input_schema=arguments_schema(properties, required),
        parameters=tuple(parameters),
        body_media=media,
        read_only=bool(operation.get("x-read-only", method in READ_METHODS)),
    )
