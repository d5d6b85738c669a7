"""Any HTTP API described by an OpenAPI 3 document: each operation (or the configured
subset) is a tool; arguments become path, query and header parameters and the JSON body.
The document is read from a file at start-up or fetched from a URL (again later if the
API was down when the gateway started)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote, urljoin

import httpx
import yaml

from connectors.auth import backend_auth
from connectors.base import BackendError, CallContext, Health
from connectors.http_backend import HttpBackend, json_body
from connectors.openapi.options import OpenApiOptions
from connectors.openapi.spec import Operation, SpecError, operations
from connectors.results import json_result
from gateway.config import ConfigError, ConnectorSettings
from gateway.models import ToolResult, ToolSpec

_MESSAGE_KEYS = ("detail", "message", "error_description", "error", "title")


def _error_message(response: httpx.Response) -> str:
    body = json_body(response)
    if isinstance(body, dict):
        for key in _MESSAGE_KEYS:
            if isinstance(body.get(key), str | list):
                return json.dumps(body[key]) if isinstance(body[key], list) else body[key]
    return "backend rejected the request"


def _query_value(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_query_value(v) for v in value]
    return value


class OpenApiConnector:
    def __init__(self, settings: ConnectorSettings) -> None:
        options = OpenApiOptions.of(settings)
        self.name = settings.name
        self._wanted = list(options.operations) if options.operations is not None else None
        self._spec = options.spec
        self._remote = self._spec.startswith(("http://", "https://"))
        auth = (
            None
            if options.auth is None
            else backend_auth(options.auth, settings.name, settings.timeout_seconds, options.tls)
        )
        self._http = HttpBackend(settings, base_url="", auth=auth)
        self._base_url: str | None = options.base_url
        self._operations: dict[str, Operation] = {}
        self._load_error = "not loaded yet"
        if not self._remote:
            try:
                text = Path(self._spec).read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                raise ConfigError(f"connectors.{self.name}.spec: cannot read {self._spec}: {exc}") from None
            self._install(text, self._spec)

    def _install(self, text: str, source: str) -> None:
        """Parse the document and make its operations the tools; ConfigError when it is unusable."""
        where = f"connectors.{self.name}.spec"
        try:
            document = yaml.safe_load(text)
            found = operations(document, self._wanted)
        except yaml.YAMLError:
            raise ConfigError(f"{where}: {source} is neither JSON nor YAML") from None
        except (SpecError, KeyError, TypeError, AttributeError) as exc:
            raise ConfigError(f"{where}: {source}: {exc}") from None
        if self._base_url is None:
            servers = document.get("servers") or [{"url": "/"}]
            server = urljoin(source, servers[0].get("url", "/")) if self._remote else servers[0].get("url", "")
            if not server.startswith(("http://", "https://")):
                raise ConfigError(
                    f"connectors.{self.name}.base_url: required, the document's server URL {server!r} is relative"
                )
            self._base_url = server
        self._base_url = self._base_url.rstrip("/")
        self._operations = {op.tool: op for op in found}

    async def _ensure_loaded(self) -> None:
        if self._operations or not self._remote:
            return
        try:
            response = await self._http.send("GET", self._spec, None)
        except BackendError as exc:  # down, or no credential for the document
            self._load_error = str(exc)
            return
        if response.status_code != 200:
            self._load_error = f"fetching the document answered HTTP {response.status_code}"
            return
        try:
            self._install(response.text, self._spec)
        except ConfigError as exc:
            self._load_error = str(exc)

    @property
    def acts_for_caller(self) -> bool:
        return self._http.acts_for_caller

    async def start(self) -> None:
        await self._http.start()
        await self._ensure_loaded()

    async def close(self) -> None:
        await self._http.close()

    async def tools(self) -> list[ToolSpec]:
        await self._ensure_loaded()
        return [
            ToolSpec(self.name, op.tool, op.description, op.input_schema, read_only=op.read_only)
            for op in self._operations.values()
        ]

    async def health(self) -> Health:
        await self._ensure_loaded()
        if not self._operations:
            return Health(False, f"OpenAPI document not loaded: {self._load_error}")
        return await self._http.probe(self._spec if self._remote else f"{self._base_url}/")

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        await self._ensure_loaded()
        op = self._operations.get(tool)
        if op is None:
            raise BackendError(f"unknown tool {tool!r}")
        path = op.path
        query: dict[str, Any] = {}
        headers: dict[str, str] = {}
        for p in op.parameters:
            if p.argument not in arguments:
                continue
            value = arguments[p.argument]
            if p.location == "path":
                path = path.replace("{" + p.name + "}", quote(str(_query_value(value)), safe=""))
            elif p.location == "query":
                query[p.name] = _query_value(value)
            else:
                headers[p.name] = str(_query_value(value))
        content = None
        if op.body_media is not None and "body" in arguments:
            content = json.dumps(arguments["body"]).encode()
            headers["content-type"] = op.body_media
        response = await self._http.send(
            op.method, f"{self._base_url}{path}", context, params=query, headers=headers, content=content
        )
        if not response.is_success:
            raise self._http.fail(response, _error_message(response))
        if not response.content:
            return json_result({"status": response.status_code})
        body = json_body(response)
        if body is None:
            return ToolResult.text(response.text)
        return json_result(body if isinstance(body, dict) else {"items": body})
