"""The names agents see for tools and prompts.

Agents see `connector.name`, or the bare name for the one connector configured as
unprefixed (a gateway in front of a single MCP server then looks exactly like it).
Policy always sees the qualified name, under the prefix of the request's kind
(`gateway.models.RequestKind.namespace`).
"""

from __future__ import annotations

from collections.abc import Collection

from gateway.models import qualified_name, split_qualified_name


class AgentNames:
    def __init__(self, connectors: Collection[str], unprefixed: str | None = None) -> None:
        self.connectors = frozenset(connectors)
        self.unprefixed = unprefixed

    def shown(self, connector: str, name: str) -> str:
        return name if connector == self.unprefixed else qualified_name(connector, name)

    def resolve(self, name: str) -> tuple[str, str] | None:
        """(connector, name) an agent's name refers to; None when it names no connector."""
        parts = split_qualified_name(name)
        if parts is not None and (parts[0] in self.connectors or self.unprefixed is None):
            return parts
        if self.unprefixed is not None:
            return self.unprefixed, name
        return None
