"""The names agents see for tools and prompts, and the names policy decides on.

Agents see `connector.name`, or the bare name for the one connector configured as
unprefixed (a gateway in front of a single MCP server then looks exactly like it).
Policy always sees the qualified name; prompts and resources are decided under a
kind prefix (`prompts/echo.greet`, `resources/echo.test://static-text`), and so are an
upstream's requests to the agent during a call (`sampling/echo.TOOL`, `elicitation/echo.TOOL`). Casbin's glob
`*` never crosses `/`, so rules written for tools (`echo.*`, `*`) grant no prompt or
resource by accident: each kind is allowed on its own.
"""

from __future__ import annotations

from collections.abc import Collection

from gateway.models import qualified_name, split_qualified_name

PROMPTS = "prompts"
RESOURCES = "resources"
#: An upstream asking the agent's LLM or user while one of its tools runs.
SAMPLING = "sampling"
ELICITATION = "elicitation"


def policy_connector(kind: str, connector: str) -> str:
    """The connector part of the policy object for a prompt or resource of `connector`."""
    return f"{kind}/{connector}"


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
