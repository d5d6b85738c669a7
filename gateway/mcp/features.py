"""Prompts and resources of upstream MCP servers, shown and read through the gateway.

Each get or read is governed like a call: the policy decides under a kind prefix
(`prompts/echo.greet`, `resources/echo.URI`), the decision is durable in the audit log
before anything is forwarded (no audit, no action), and the outcome is recorded after.
Reads cannot be held for approval: an approve decision refuses them.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, runtime_checkable

import mcp_types as types

from connectors.base import BackendError
from connectors.resilience import unwrap
from gateway.errors import ApprovalRequired, AuditFailed, BackendFailed, PolicyDenied, UnknownTool
from gateway.models import Effect, Principal
from gateway.naming import PROMPTS, RESOURCES, AgentNames, policy_connector
from gateway.policy import call_context

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger(__name__)

T = TypeVar("T")
#: Upstream bookkeeping that must not reach the agent as if the gateway had said it.
_UPSTREAM_META = "io.modelcontextprotocol/serverInfo"


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


def _template_pattern(template: str) -> re.Pattern[str]:
    """RFC 6570 level 1-2 templates as a regex: `{x}` one path segment, `{+x}` anything."""
    parts = re.split(r"(\{[^}]*\})", template)
    return re.compile(
        "".join(
            (".+" if part.startswith("{+") else "[^/]+") if part.startswith("{") else re.escape(part) for part in parts
        )
    )


async def _nothing() -> None:
    return None


def _without_upstream_meta(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if not meta:
        return None
    kept = {k: v for k, v in meta.items() if k != _UPSTREAM_META}
    return kept or None


class McpFeatures:
    def __init__(self, gateway: Gateway, names: AgentNames) -> None:
        self.gateway = gateway
        self.names = names

    @property
    def upstreams(self) -> list[McpUpstream]:
        backends = (unwrap(c) for c in self.gateway.connectors)
        return [b for b in backends if isinstance(b, McpUpstream)]

    async def _gather(self, what: str, fetch: Callable[[McpUpstream], Awaitable[list[T]]]) -> list[tuple[str, T]]:
        """Every upstream's items; one that cannot list is left out (and logged), not fatal."""
        upstreams = self.upstreams
        results = await asyncio.gather(*(fetch(u) for u in upstreams), return_exceptions=True)
        items: list[tuple[str, T]] = []
        for upstream, result in zip(upstreams, results, strict=True):
            if isinstance(result, BaseException):
                log.warning("cannot list %s of connector %s: %s", what, upstream.name, result)
                continue
            items.extend((upstream.name, item) for item in result)
        return items

    def _visible(self, principal: Principal, kind: str, connector: str, name: str) -> bool:
        return self.gateway.policy.current.may_list(principal, policy_connector(kind, connector), name)

    async def list_prompts(self, principal: Principal) -> list[types.Prompt]:
        return [
            prompt.model_copy(update={"name": self.names.shown(connector, prompt.name), "meta": None})
            for connector, prompt in await self._gather(PROMPTS, lambda u: u.prompts())
            if self._visible(principal, PROMPTS, connector, prompt.name)
        ]

    async def list_resources(self, principal: Principal) -> list[types.Resource]:
        return [
            resource.model_copy(update={"meta": None})
            for connector, resource in await self._gather(RESOURCES, lambda u: u.resources())
            if self._visible(principal, RESOURCES, connector, resource.uri)
        ]

    async def list_resource_templates(self, principal: Principal) -> list[types.ResourceTemplate]:
        return [
            template.model_copy(update={"meta": None})
            for connector, template in await self._gather(RESOURCES, lambda u: u.resource_templates())
            if self._visible(principal, RESOURCES, connector, template.uri_template)
        ]

    def _prompt_upstream(self, name: str) -> tuple[McpUpstream, str]:
        parts = self.names.resolve(name)
        upstream = self._upstream(parts[0]) if parts is not None else None
        if parts is None or upstream is None:
            raise UnknownTool(f"unknown prompt {name!r}: prompt names are 'connector.prompt'")
        return upstream, parts[1]

    async def get_prompt(self, principal: Principal, name: str, arguments: Mapping[str, str]) -> types.GetPromptResult:
        upstream, prompt = self._prompt_upstream(name)
        connector = upstream.name
        result = await self.govern(
            principal, PROMPTS, connector, prompt, dict(arguments), lambda: upstream.get_prompt(prompt, arguments)
        )
        return result.model_copy(update={"meta": _without_upstream_meta(result.meta)})

    async def read_resource(self, principal: Principal, uri: str) -> types.ReadResourceResult:
        upstream = await self.route(uri)
        result = await self.govern(
            principal, RESOURCES, upstream.name, uri, {"uri": uri}, lambda: upstream.read_resource(uri)
        )
        return result.model_copy(update={"meta": _without_upstream_meta(result.meta)})

    async def subscribe(self, principal: Principal, uri: str) -> McpUpstream:
        """Governed like a read; the caller subscribes upstream once for all its agents."""
        upstream = await self.route(uri)
        await self.govern(principal, RESOURCES, upstream.name, uri, {"uri": uri}, _nothing)
        return upstream

    async def complete(self, principal: Principal, params: types.CompleteRequestParams) -> types.CompleteResult:
        """Completion hints for a prompt or template argument the caller may see."""
        ref = params.ref
        if isinstance(ref, types.PromptReference):
            upstream, prompt = self._prompt_upstream(ref.name)
            visible = self._visible(principal, PROMPTS, upstream.name, prompt)
            upstream_ref: types.PromptReference | types.ResourceTemplateReference = ref.model_copy(
                update={"name": prompt}
            )
        else:
            upstream = await self._route_template(ref.uri)
            visible = self._visible(principal, RESOURCES, upstream.name, ref.uri)
            upstream_ref = ref
        if not visible:
            raise UnknownTool(f"nothing to complete: {getattr(ref, 'name', None) or ref.uri!r} is not shown to you")
        context = params.context.arguments if params.context is not None else None
        argument = {"name": params.argument.name, "value": params.argument.value}
        return await self.forward(upstream, lambda: upstream.complete(upstream_ref, argument, context))

    @staticmethod
    async def forward(upstream: McpUpstream, send: Callable[[], Awaitable[T]]) -> T:
        try:
            return await send()
        except BackendError as exc:
            raise BackendFailed(f"backend {upstream.name!r} failed: {exc}") from None

    def _upstream(self, connector: str) -> McpUpstream | None:
        return next((u for u in self.upstreams if u.name == connector), None)

    async def route(self, uri: str) -> McpUpstream:
        """The upstream serving `uri`: the one listing it, else one whose template matches it."""
        upstreams = self.upstreams
        if len(upstreams) == 1:
            return upstreams[0]
        for connector, resource in await self._gather(RESOURCES, lambda u: u.resources()):
            if resource.uri == uri:
                return self._upstream(connector)  # type: ignore[return-value]
        for connector, template in await self._gather(RESOURCES, lambda u: u.resource_templates()):
            if _template_pattern(template.uri_template).fullmatch(uri):
                return self._upstream(connector)  # type: ignore[return-value]
        raise UnknownTool(f"unknown resource {uri!r}: no upstream lists it or a template matching it")

    async def _route_template(self, template: str) -> McpUpstream:
        upstreams = self.upstreams
        if len(upstreams) == 1:
            return upstreams[0]
        for connector, listed in await self._gather(RESOURCES, lambda u: u.resource_templates()):
            if listed.uri_template == template:
                return self._upstream(connector)  # type: ignore[return-value]
        raise UnknownTool(f"unknown resource template {template!r}")

    async def govern(
        self,
        principal: Principal,
        kind: str,
        connector: str,
        item: str,
        arguments: dict[str, Any],
        forward: Callable[[], Awaitable[T]],
    ) -> T:
        """Decide, record the decision durably, then forward and record the outcome."""
        read_id = uuid.uuid4().hex
        audit = self.gateway.audit
        decision = self.gateway.policy.current.decide(
            principal, policy_connector(kind, connector), item, arguments, call_context(principal, "mcp")
        )
        redacted, digest = audit.redact(arguments)
        p = principal
        record = {
            "principal": {"subject": p.subject, "roles": list(p.roles), "tenant": p.tenant, "issuer": p.issuer},
            "kind": kind,
            "connector": connector,
            "name": item,
            "arguments": redacted,
            "arguments_digest": digest,
            "effect": decision.effect.value,
            "rule": decision.rule,
            "reason": decision.reason,
            "policy_version": decision.policy_version,
        }
        try:
            await audit.submit("access.decided", record, read_id)
        except Exception:
            log.exception("audit append failed")
            raise AuditFailed("the audit log is unavailable, so the request was not forwarded") from None
        if decision.effect is Effect.DENY:
            where = f" (rule {decision.rule})" if decision.rule else ""
            raise PolicyDenied(f"denied by policy{where}: {decision.reason}")
        if decision.effect is Effect.APPROVE:
            raise ApprovalRequired(f"reading {kind} cannot wait for approval ({decision.reason})")
        started = time.perf_counter()
        outcome: dict[str, Any] = {"status": "error", "error": "cancelled"}
        try:
            answer = await forward()
        except BackendError as exc:
            outcome["error"] = str(exc)
            raise BackendFailed(f"backend {connector!r} failed: {exc}") from None
        except Exception as exc:  # e.g. the agent could not be asked (MCPError): recorded, passed on
            outcome["error"] = str(exc) or type(exc).__name__
            raise
        else:
            outcome = {"status": "ok"}
            return answer
        finally:
            outcome["latency_ms"] = round((time.perf_counter() - started) * 1000, 3)
            # The upstream has answered: a failure to record that cannot undo it, so it is
            # logged loudly instead of hiding the answer.
            try:
                await audit.submit("access.completed", outcome, read_id)
            except Exception:
                log.critical("audit: the outcome of %s %s could not be recorded", kind, read_id)
