"""Any upstream MCP server, over Streamable HTTP (`url`) or as a subprocess over stdio
(`command`), as one connector."""

from __future__ import annotations

from mcp.client.stdio import StdioServerParameters

from connectors.mcp.oauth import UpstreamSignIn
from connectors.mcp.options import DEFAULT_STDIO_PING_SECONDS
from connectors.mcp.options import McpOptions as Options
from connectors.mcp.upstream import McpConnector
from connectors.tls import client_context
from gateway.config import ConnectorSettings, revealed
from gateway.events import EventBus

__all__ = ["Options", "create"]


def _stdio(command: tuple[str, ...], options: Options) -> StdioServerParameters:
    return StdioServerParameters(
        command=command[0], args=list(command[1:]), env=revealed(options.env) or None, cwd=options.cwd
    )


def create(settings: ConnectorSettings, events: EventBus) -> McpConnector:
    options = Options.of(settings)
    if options.command is not None:
        ping = options.ping_interval_seconds or DEFAULT_STDIO_PING_SECONDS
        stdio = _stdio(options.command, options)
        return McpConnector(settings.name, stdio, events=events, mode=options.protocol or "legacy", ping_interval=ping)
    url = options.url or ""  # Options holds exactly one of url and command
    return McpConnector(
        settings.name,
        url,
        events=events,
        mode=options.protocol or "auto",
        headers=revealed(options.headers),
        ping_interval=options.ping_interval_seconds,
        sessions=options.sessions,
        tls=client_context(options.tls) if (options.url or "").startswith("https://") else None,
        sign_in=UpstreamSignIn(url, options.auth) if options.auth is not None else None,
    )
