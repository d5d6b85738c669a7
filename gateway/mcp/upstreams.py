"""The upstream MCP servers behind the gateway, as the MCP front door needs them: what
they list (prompts, resources, templates, shown to an agent as policy lets it see them),
which upstream serves a URI, and requests to one of them as the pipeline sends it.

Every request goes through the connector's resilience wrapper (deadline, concurrency
limit, circuit); a request made for an agent also goes through the pipeline first
(`gateway.mcp.front`). What an upstream says about itself in `_meta` is dropped from
every answer, on every path, so it never reaches an agent as if the gateway had said it.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol, TypeVar, cast, runtime_checkable

import mcp_types as types

from connectors.base import BackendError, Connector
from connectors.resilience import ResilientConnector
from gateway.errors import UnknownTool
from gateway.models import Principal, RequestKind, policy_connector
from gateway.naming import AgentNames
from gateway.pipeline import Send
from gateway.policy import PolicyHolder

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Upstream bookkeeping that must not reach the agent as if the gateway had said it.
UPSTREAM_META = "io.modelcontextprotocol/serverInfo"


@runtime_checkable
class McpUpstream(Protocol):
    """A connector that also offers MCP prompts and resources (connectors.mcp)."""

    name: str

    async def prompts(self) -> list[types.Prompt]: ...

    async def get_prompt(self, name: str, arguments: Mapping[str, str]) -> types.GetPromptResult: ...

    async def resources(self) -> list[types.Resource]: ...

    async def resource_templates(self) -> list[types.ResourceTemplate]: ...

    async def read_resource(self, uri: str) -> types.ReadResourceResult: ...

    async def subscribe_resource(self, uri: str) -> None: ...

    async def unsubscribe_resource(self, uri: str) -> None: ...

    async def complete(
        self,
        ref: types.PromptReference | types.ResourceTemplateReference,
        argument: dict[str, str],
        context: dict[str, str] | None,
    ) -> types.CompleteResult: ...


def upstream_request(ask: Callable[[McpUpstream], Awaitable[T]]) -> Send[T]:
    """`ask` as the pipeline sends it: to the backend inside the wrapper, with the
    upstream's own `_meta` dropped from the answer."""

    async def send(backend: Connector) -> T:
        if not isinstance(backend, McpUpstream):
            raise BackendError("this backend offers no MCP prompts or resources")
        return without_upstream_meta(await ask(backend))

    return send


def without_upstream_meta(answer: T) -> T:
    meta = getattr(answer, "meta", None)
    if not isinstance(meta, Mapping) or UPSTREAM_META not in meta:
        return answer
    kept = {k: v for k, v in meta.items() if k != UPSTREAM_META}
    return cast(T, cast(Any, answer).model_copy(update={"meta": kept or None}))


def _template_pattern(template: str) -> re.Pattern[str]:
    """RFC 6570 level 1-2 templates as a regex: `{x}` one path segment, `{+x}` anything."""
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile(
        "".join(
            (".+" if part.startswith("{+") else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
        )
    )


class Upstreams:
    def __init__(self, connectors: Sequence[ResilientConnector], policy: PolicyHolder, names: AgentNames) -> None:
        self.connectors = [c for c in connectors if c.offers(McpUpstream)]
        self.policy = policy
        self.names = names

    async def _gather(self, what: str, fetch: Callable[[McpUpstream], Awaitable[list[T]]]) -> list[tuple[str, T]]:
        """Every upstream's items; one that cannot list is left out (and logged), not fatal."""
        results = await asyncio.gather(
            *(
                c.send(upstream_request(fetch), timeout=c.policy.timeout, read_only=True, what=what)
                for c in self.connectors
            ),
            return_exceptions=True,
        )
        items: list[tuple[str, T]] = []
        for connector, result in zip(self.connectors, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("cannot list %s of connector %s: %s", what, connector.name, result)
                continue
            items.extend((connector.name, item) for item in result)
        return items

    def _visible(self, principal: Principal, kind: RequestKind, connector: str, name: str) -> bool:
        return self.policy.current.may_list(principal, policy_connector(kind, connector), name)

    async def prompts(self, principal: Principal) -> list[types.Prompt]:
        return [
            prompt.model_copy(update={"name": self.names.shown(connector, prompt.name), "meta": None})
            for connector, prompt in await self._gather("prompts", lambda u: u.prompts())
            if self._visible(principal, RequestKind.PROMPT, connector, prompt.name)
        ]

    async def resources(self, principal: Principal) -> list[types.Resource]:
        return [
            resource.model_copy(update={"meta": None})
            for connector, resource in await self._gather("resources", lambda u: u.resources())
            if self._visible(principal, RequestKind.RESOURCE, connector, resource.uri)
        ]

    async def resource_templates(self, principal: Principal) -> list[types.ResourceTemplate]:
        return [
            template.model_copy(update={"meta": None})
            for connector, template in await self._gather("resource templates", lambda u: u.resource_templates())
            if self._visible(principal, RequestKind.RESOURCE, connector, template.uri_template)
        ]

    def prompt(self, name: str) -> tuple[str, str]:
        """(connector, prompt) an agent's prompt name refers to."""
        parts = self.names.resolve(name)
        if parts is None or parts[0] not in {c.name for c in self.connectors}:
            raise UnknownTool(f"unknown prompt {name!r}: prompt names are 'connector.prompt'")
        return parts

    async def route(self, uri: str) -> str:
        """The connector serving `uri`: the one listing it, else one whose template matches it."""
        if len(self.connectors) == 1:
            return self.connectors[0].name
        for connector, resource in await self._gather("resources", lambda u: u.resources()):
            if resource.uri == uri:
                return connector
        for connector, template in await self._gather("resource templates", lambda u: u.resource_templates()):
            if _template_pattern(template.uri_template).fullmatch(uri):
                return connector
        raise UnknownTool(f"unknown resource {uri!r}: no upstream lists it or a template matching it")

    async def route_template(self, template: str) -> str:
        if len(self.connectors) == 1:
            return self.connectors[0].name
        for connector, listed in await self._gather("resource templates", lambda u: u.resource_templates()):
            if listed.uri_template == template:
                return connector
        raise UnknownTool(f"unknown resource template {template!r}")
