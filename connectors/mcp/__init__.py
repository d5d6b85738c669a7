"""Any upstream MCP server over Streamable HTTP, as one connector."""

from __future__ import annotations

from connectors.mcp.upstream import McpConnector
from gateway.config import ConfigError, ConnectorSettings


def create(settings: ConnectorSettings) -> McpConnector:
    url = settings.options.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"connectors.{settings.name}.url: expected an http(s) URL of the upstream MCP endpoint")
    mode = settings.options.get("protocol", "auto")
    if mode not in ("auto", "legacy", "2026-07-28"):
        raise ConfigError(f"connectors.{settings.name}.protocol: expected auto, legacy or 2026-07-28, got {mode!r}")
    headers = settings.options.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"connectors.{settings.name}.headers: expected a mapping of header names to strings")
    return McpConnector(settings.name, url, mode=mode, headers=headers)
