"""Any upstream MCP server, over Streamable HTTP (`url`) or as a subprocess over stdio
(`command`), as one connector."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mcp.client.stdio import StdioServerParameters

from connectors.mcp.upstream import McpConnector
from gateway.config import ConfigError, ConnectorSettings
from gateway.events import EventBus

#: Upstream sessions a Streamable HTTP connector opens side by side for tool calls.
DEFAULT_HTTP_SESSIONS = 4
#: A stdio server is a child process: check on it this often when it is idle.
DEFAULT_STDIO_PING_SECONDS = 2.0


def _stdio(settings: ConnectorSettings) -> StdioServerParameters:
    where = f"connectors.{settings.name}"
    options: Mapping[str, Any] = settings.options
    command = options["command"]
    if not isinstance(command, list) or not command or not all(isinstance(c, str) and c for c in command):
        raise ConfigError(f"{where}.command: expected a non-empty list of strings (program and arguments)")
    env = options.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise ConfigError(f"{where}.env: expected a mapping of variable names to strings")
    cwd = options.get("cwd")
    if cwd is not None and not isinstance(cwd, str):
        raise ConfigError(f"{where}.cwd: expected a directory path")
    return StdioServerParameters(command=command[0], args=command[1:], env=env or None, cwd=cwd)


def create(settings: ConnectorSettings, events: EventBus) -> McpConnector:
    has_url, has_command = "url" in settings.options, "command" in settings.options
    if has_url == has_command:
        raise ConfigError(f"connectors.{settings.name}: give exactly one of url (Streamable HTTP) and command (stdio)")
    ping = settings.options.get("ping_interval_seconds", DEFAULT_STDIO_PING_SECONDS if has_command else None)
    if ping is not None and (isinstance(ping, bool) or not isinstance(ping, int | float) or ping <= 0):
        raise ConfigError(f"connectors.{settings.name}.ping_interval_seconds: expected a positive number")
    # Over stdio the handshake era is the default: there `notifications/tools/list_changed`
    # arrives unasked, while 2026-07-28 needs a subscription many servers do not offer.
    mode = settings.options.get("protocol", "legacy" if has_command else "auto")
    if mode not in ("auto", "legacy", "2026-07-28"):
        raise ConfigError(f"connectors.{settings.name}.protocol: expected auto, legacy or 2026-07-28, got {mode!r}")
    if has_command:
        return McpConnector(settings.name, _stdio(settings), events=events, mode=mode, ping_interval=ping)
    url = settings.options.get("url")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ConfigError(f"connectors.{settings.name}.url: expected an http(s) URL of the upstream MCP endpoint")
    headers = settings.options.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"connectors.{settings.name}.headers: expected a mapping of header names to strings")
    sessions = settings.options.get("sessions", DEFAULT_HTTP_SESSIONS)
    if isinstance(sessions, bool) or not isinstance(sessions, int) or not 1 <= sessions <= 64:
        raise ConfigError(f"connectors.{settings.name}.sessions: expected a whole number from 1 to 64")
    return McpConnector(
        settings.name, url, events=events, mode=mode, headers=headers, ping_interval=ping, sessions=sessions
    )
