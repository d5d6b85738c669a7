"""Options of an `mcp` connector stanza: an upstream MCP server over Streamable HTTP
(`url`) or a subprocess over stdio (`command`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, model_validator

from connectors.options import ConnectorOptions
from gateway.config import KeyProblem, Secret

#: SDK client sessions a Streamable HTTP connector opens side by side. Tool calls go as plain
#: POSTs (connectors.mcp.direct_calls) and need no more than one.
DEFAULT_HTTP_SESSIONS = 1
#: A stdio server is a child process: check on it this often when it is idle.
DEFAULT_STDIO_PING_SECONDS = 2.0


class McpOptions(ConnectorOptions):
    """An upstream MCP server: give exactly one of `url` and `command`."""

    url: str | None = Field(None, pattern=r"^https?://", description="The upstream's Streamable HTTP endpoint.")
    headers: Mapping[str, Secret] = Field(
        default_factory=dict, description="Headers sent to the upstream (values are secrets: use references)."
    )
    sessions: int = Field(
        DEFAULT_HTTP_SESSIONS,
        ge=1,
        le=64,
        description="SDK client sessions opened side by side; they carry the tool calls only when the "
        "environment routes the upstream through a proxy, or the upstream asks for input (2026-07-28).",
    )
    command: tuple[str, ...] | None = Field(
        None, min_length=1, description="Program and arguments of a stdio MCP server."
    )
    env: Mapping[str, str] = Field(default_factory=dict, description="Environment of the stdio server.")
    cwd: str | None = Field(None, min_length=1, description="Working directory of the stdio server.")
    ping_interval_seconds: float | None = Field(
        None,
        gt=0,
        description=f"Ping an idle upstream this often; default: {DEFAULT_STDIO_PING_SECONDS} over stdio, "
        "never over HTTP.",
    )
    # Over stdio the handshake era is the default: there `notifications/tools/list_changed`
    # arrives unasked, while 2026-07-28 needs a subscription many servers do not offer.
    protocol: Literal["auto", "legacy", "2026-07-28"] | None = Field(
        None, description="MCP protocol era; default: legacy over stdio, auto over HTTP."
    )

    @model_validator(mode="after")
    def _one_transport(self) -> McpOptions:
        if (self.url is None) == (self.command is None):
            raise KeyProblem("", "give exactly one of url (Streamable HTTP) and command (stdio)")
        if self.command is not None and not all(self.command):
            raise KeyProblem("command", "expected a non-empty list of strings (program and arguments)")
        return self
