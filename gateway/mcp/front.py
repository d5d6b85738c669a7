"""The MCP front door: one MCP server (official SDK, Streamable HTTP) showing the tools
of every connector as `connector.tool` and the prompts and resources of upstream MCP
servers. Like the REST front door it only turns requests into `ToolCall`s (of the kind
each method asks for) and hands them to the pipeline: a tool call, a prompt get, a
resource read or subscription, a completion are decided, forwarded and audited the same way.

While a call runs, the agent's session is its back-channel: upstream progress and log
messages reach it (gateway.relay), and the agent's cancel cancels the upstream request.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

import mcp_types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server._otel import OpenTelemetryMiddleware
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning
from starlette.routing import BaseRoute, Route

from gateway import __version__
from gateway.approvals.mcp_agent import (
    MAY_NEED_APPROVAL_META,
    REPLAYED_META,
    STATUS_INPUT_SCHEMA,
    STATUS_TOOL,
    InvalidWait,
    pending_result,
    status_result,
    status_tool,
    wait_seconds,
)
from gateway.arguments import ArgumentsOverLimit
from gateway.auth_gate import BearerAuthGate, caller_token_of, principal_of
from gateway.dry_run import InvalidDryRun, dry_run_from_meta
from gateway.errors import ApprovalPending, CallRefused, UnknownTool
from gateway.events import ListingChanged, ResourceUpdated
from gateway.guards.sessions import SessionQuota
from gateway.guards.settings import SessionSettings
from gateway.mcp.backchannel import agent_relay
from gateway.mcp.deferred_stream import DeferredStream
from gateway.mcp.sessions import AgentSessions, SessionOwner
from gateway.mcp.upstreams import McpUpstream, Upstreams, upstream_request
from gateway.models import Principal, RequestKind, ToolCall, ToolResult, ToolSpec
from gateway.naming import AgentNames
from gateway.relay import relaying

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger(__name__)

T = TypeVar("T")
H = TypeVar("H", bound=Callable[..., Awaitable[Any]])
INSTRUCTIONS = "Governed tools: every call is authorized by policy, may wait for human approval, and is audited."


def _tool(spec: ToolSpec, name: str, may_need_approval: bool) -> types.Tool:
    return types.Tool(
        name=name,
        title=spec.title,
        description=spec.description,
        input_schema=dict(spec.input_schema),
        annotations=types.ToolAnnotations(read_only_hint=True) if spec.read_only else None,
        _meta={MAY_NEED_APPROVAL_META: may_need_approval},
    )


def _call_result(result: ToolResult) -> types.CallToolResult:
    data: dict[str, Any] = {"content": list(result.content), "isError": result.is_error}
    data["structuredContent"] = result.structured
    if result.replay_of_approval is not None:
        # A retry of an approved call gets the stored result of its single execution.
        data["_meta"] = {REPLAYED_META: {"approval_id": result.replay_of_approval}}
    return types.CallToolResult.model_validate(data)


def _error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)


def _principal(ctx: ServerRequestContext) -> Principal:
    if ctx.request is None:
        raise MCPError(types.INTERNAL_ERROR, "no HTTP request carries this call")
    return principal_of(ctx.request.scope)


def _client_name(ctx: ServerRequestContext) -> str | None:
    params = getattr(ctx.session, "client_params", None)
    info = getattr(params, "client_info", None)
    if info is not None:
        return f"{info.name}/{info.version}" if info.version else info.name
    return ctx.request.headers.get("user-agent") if ctx.request is not None else None


def paginate(items: Sequence[T], params: types.PaginatedRequestParams | None, size: int) -> tuple[list[T], str | None]:
    """One page of `items` and the cursor of the next (an offset: lists are rebuilt per request)."""
    cursor = params.cursor if params is not None else None
    start = 0
    if cursor is not None:
        if not cursor.isdigit() or int(cursor) > len(items):
            raise MCPError(types.INVALID_PARAMS, f"invalid cursor {cursor!r}: pass the nextCursor of the last page")
        start = int(cursor)
    end = start + size
    return list(items[start:end]), str(end) if end < len(items) else None


class _GatewayServer(Server):
    def create_initialization_options(
        self, notification_options: NotificationOptions | None = None, *args: Any, **kwargs: Any
    ) -> InitializationOptions:
        # The gateway tells agents when the catalog or the policy changes what they may see.
        changes = NotificationOptions(prompts_changed=True, resources_changed=True, tools_changed=True)
        return super().create_initialization_options(notification_options or changes, *args, **kwargs)


def _refusals_as_errors(handler: H) -> H:
    """For requests whose result has no isError (all but tools/call), a refusal is a
    JSON-RPC error: invalid params for an unknown name or oversized arguments (as for a
    tool call), invalid request for a refusal."""

    @functools.wraps(handler)
    async def handle(*args: Any) -> Any:
        try:
            return await handler(*args)
        except (UnknownTool, ArgumentsOverLimit) as exc:
            raise MCPError(types.INVALID_PARAMS, exc.message) from None
        except CallRefused as exc:
            code = types.INVALID_REQUEST if exc.status < 500 else types.INTERNAL_ERROR
            raise MCPError(code, exc.message) from None

    return cast(H, handle)


class McpFrontDoor:
    """Shaped like `gateway.rest.routes.RestFrontDoor`: built from the gateway, one handler
    per MCP method, `routes()` for the app's route table (plus `running()` for the SDK's
    session manager). It holds no governance: each request becomes a `ToolCall`."""

    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.settings = gateway.config.frontdoors
        self.names = AgentNames([c.name for c in gateway.connectors], self.settings.unprefixed_connector)
        self.sessions = AgentSessions()
        self.upstreams = Upstreams(gateway.connectors, gateway.policy, self.names)
        gateway.events.subscribe(ListingChanged, self._listing_changed)
        gateway.events.subscribe(ResourceUpdated, self._resource_updated)
        self.server = self._server()
        if not gateway.telemetry.enabled:
            # Without a tracer provider the SDK's span per message goes nowhere, yet it cost a
            # twentieth of the gateway's CPU per call (bench/cost.py).
            self.server.middleware = [m for m in self.server.middleware if not isinstance(m, OpenTelemetryMiddleware)]
        s = gateway.config.server
        build = functools.partial(
            build_session_manager,
            self.server,
            host=s.host,
            port=s.port,
            allowed_hosts=s.allowed_hosts,
            allowed_origins=s.allowed_origins,
            max_body_bytes=s.max_body_bytes,
            sessions=gateway.config.guards.sessions,
        )
        self.manager = build()
        #: The same server in the SDK's JSON-response mode, for stateless requests that
        #: asked for no notifications (gateway.mcp.deferred_stream).
        self.json_manager = build(json_response=True)

    def routes(self) -> list[BaseRoute]:
        guards = self.gateway.config.guards
        answers = DeferredStream(
            StreamableHTTPASGIApp(self.manager),
            StreamableHTTPASGIApp(self.json_manager),
            self.gateway.config.server.max_body_bytes,
        )
        quota = SessionQuota(
            answers,
            self.manager,
            guards.sessions,
            self.gateway.metrics,
            guards.retry_after_seconds,
        )
        endpoint = BearerAuthGate(SessionOwner(quota), self.gateway.authenticate)
        return [Route("/mcp", endpoint, methods=["GET", "POST", "DELETE"])]

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        async with self.manager.run(), self.json_manager.run():
            yield

    async def _listing_changed(self, event: ListingChanged) -> None:
        await self.sessions.announce(event.kind)

    async def _resource_updated(self, event: ResourceUpdated) -> None:
        await self.sessions.resource_updated(event.uri)

    def _principal(self, ctx: ServerRequestContext) -> Principal:
        self.sessions.seen(ctx.session)
        return _principal(ctx)

    def _call(
        self,
        ctx: ServerRequestContext,
        kind: RequestKind,
        connector: str,
        item: str,
        arguments: Mapping[str, Any],
        wait: float | None = None,
        dry_run: bool = False,
    ) -> ToolCall:
        """The one way this front door builds a request (the REST one builds its own the same way)."""
        headers: Mapping[str, str] = ctx.request.headers if ctx.request is not None else {}
        return ToolCall.new(
            self._principal(ctx),
            connector,
            item,
            arguments,
            front_door="mcp",
            traceparent=headers.get("traceparent"),
            client=_client_name(ctx),
            kind=kind,
            wait_seconds=wait,
            dry_run=dry_run,
            caller_token=caller_token_of(ctx.request.scope) if ctx.request is not None else None,
        )

    async def _request(self, call: ToolCall, ask: Callable[[McpUpstream], Awaitable[T]]) -> T:
        """Any request to an upstream but a tool call, through the pipeline."""
        return await self.gateway.pipeline.request(call, upstream_request(ask))

    async def list_tools(
        self, ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        who = self._principal(ctx)
        specs = await self.gateway.tools_for(who)
        mark = self.gateway.may_need_approval
        tools = [*(_tool(s, self.names.shown(s.connector, s.name), mark(who, s)) for s in specs), status_tool()]
        page, cursor = paginate(tools, params, self.settings.page_size)
        return types.ListToolsResult(tools=page, next_cursor=cursor)

    async def call_tool(self, ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name == STATUS_TOOL:
            return await status_result(self.gateway.approvals, self._principal(ctx), params.arguments or {})
        parts = self.names.resolve(params.name)
        if parts is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name!r} (tool names are 'connector.tool')")
        try:
            wait = wait_seconds(params.meta)
            dry_run = dry_run_from_meta(params.meta)
        except (InvalidWait, InvalidDryRun) as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        call = self._call(ctx, RequestKind.TOOL, parts[0], parts[1], params.arguments or {}, wait, dry_run)
        try:
            with relaying(agent_relay(ctx, call.principal, parts[0], parts[1], self.sessions, self._asker(ctx, call))):
                return _call_result(await self.gateway.pipeline.run(call))
        except UnknownTool as exc:
            # The spec answers an unknown tool with a protocol error, not a tool result.
            raise MCPError(types.INVALID_PARAMS, exc.message) from None
        except ArgumentsOverLimit as exc:
            raise MCPError(types.INVALID_PARAMS, exc.message) from None
        except ApprovalPending as exc:
            return pending_result(exc)
        except CallRefused as exc:
            return _error_result(exc.message)
        except Exception:
            # Internal text never reaches the agent; the call id finds the log line.
            log.exception("call %s failed inside the gateway", call.call_id)
            return _error_result(f"internal gateway error (call id {call.call_id})")

    def _asker(self, ctx: ServerRequestContext, tool_call: ToolCall) -> Callable[..., Awaitable[Any]]:
        """How the upstream of `tool_call` asks the agent: a request of its own kind
        (sampling, elicitation) on the calling tool, through the pipeline."""

        async def ask(kind: RequestKind, arguments: dict[str, Any], send: Callable[[], Awaitable[Any]]) -> Any:
            call = self._call(ctx, kind, tool_call.connector, tool_call.tool, arguments)
            return await self.gateway.pipeline.request(call, lambda _wrapper: send())

        return ask

    def input_schema(self, name: str) -> Mapping[str, Any] | None:
        if name == STATUS_TOOL:
            return STATUS_INPUT_SCHEMA
        parts = self.names.resolve(name)
        entry = self.gateway.catalog.entry(f"{parts[0]}.{parts[1]}") if parts is not None else None
        return entry.spec.input_schema if entry is not None else None

    async def list_prompts(
        self, ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        prompts = await self.upstreams.prompts(self._principal(ctx))
        page, cursor = paginate(prompts, params, self.settings.page_size)
        return types.ListPromptsResult(prompts=page, next_cursor=cursor)

    @_refusals_as_errors
    async def get_prompt(
        self, ctx: ServerRequestContext, params: types.GetPromptRequestParams
    ) -> types.GetPromptResult:
        connector, prompt = self.upstreams.prompt(params.name)
        arguments = params.arguments or {}
        call = self._call(ctx, RequestKind.PROMPT, connector, prompt, arguments)
        return await self._request(call, lambda upstream: upstream.get_prompt(prompt, arguments))

    async def list_resources(
        self, ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        resources = await self.upstreams.resources(self._principal(ctx))
        page, cursor = paginate(resources, params, self.settings.page_size)
        return types.ListResourcesResult(resources=page, next_cursor=cursor)

    async def list_resource_templates(
        self, ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        templates = await self.upstreams.resource_templates(self._principal(ctx))
        page, cursor = paginate(templates, params, self.settings.page_size)
        return types.ListResourceTemplatesResult(resource_templates=page, next_cursor=cursor)

    async def _resource_call(self, ctx: ServerRequestContext, kind: RequestKind, uri: str) -> ToolCall:
        connector = await self.upstreams.route(uri)
        return self._call(ctx, kind, connector, uri, {"uri": uri})

    @_refusals_as_errors
    async def read_resource(
        self, ctx: ServerRequestContext, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        uri = str(params.uri)
        call = await self._resource_call(ctx, RequestKind.RESOURCE, uri)
        return await self._request(call, lambda upstream: upstream.read_resource(uri))

    @_refusals_as_errors
    async def subscribe(self, ctx: ServerRequestContext, params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri, session = str(params.uri), ctx.session
        call = await self._resource_call(ctx, RequestKind.SUBSCRIBE, uri)

        async def subscribe(upstream: McpUpstream) -> None:
            if not self.sessions.subscribe(session, uri):  # one upstream subscription serves every agent
                return
            try:
                await upstream.subscribe_resource(uri)
            except BaseException:
                # Not subscribed upstream: neither is the agent (and a retry starts over).
                self.sessions.unsubscribe(session, uri)
                raise

        await self._request(call, subscribe)
        return types.EmptyResult()

    @_refusals_as_errors
    async def unsubscribe(self, ctx: ServerRequestContext, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        if self.sessions.unsubscribe(ctx.session, uri):  # the last one leaves: release the upstream's
            call = await self._resource_call(ctx, RequestKind.UNSUBSCRIBE, uri)
            await self._request(call, lambda upstream: upstream.unsubscribe_resource(uri))
        return types.EmptyResult()

    @_refusals_as_errors
    async def complete(self, ctx: ServerRequestContext, params: types.CompleteRequestParams) -> types.CompleteResult:
        """Completion hints for an argument of a prompt or resource template, decided as
        that prompt or template is: what may not be got may not be completed either."""
        ref = params.ref
        if isinstance(ref, types.PromptReference):
            kind, (connector, item) = RequestKind.PROMPT_COMPLETION, self.upstreams.prompt(ref.name)
            upstream_ref: types.PromptReference | types.ResourceTemplateReference = ref.model_copy(
                update={"name": item}
            )
        else:
            kind, item, upstream_ref = RequestKind.RESOURCE_COMPLETION, ref.uri, ref
            connector = await self.upstreams.route_template(ref.uri)
        argument = {"name": params.argument.name, "value": params.argument.value}
        context = params.context.arguments if params.context is not None else None
        call = self._call(ctx, kind, connector, item, {"argument": argument, "context": context})
        return await self._request(call, lambda upstream: upstream.complete(upstream_ref, argument, context))

    async def set_logging_level(
        self, ctx: ServerRequestContext, params: types.SetLevelRequestParams
    ) -> types.EmptyResult:
        self.sessions.set_level(ctx.session, params.level)
        return types.EmptyResult()

    def _server(self) -> Server:
        with warnings.catch_warnings():
            # Logging is deprecated from 2026-07-28 on, but 2025 agents still read upstream logs through it.
            warnings.simplefilter("ignore", MCPDeprecationWarning)
            return _GatewayServer(
                "agent-gateway",
                version=__version__,
                instructions=INSTRUCTIONS,
                on_list_tools=self.list_tools,
                on_call_tool=self.call_tool,
                get_tool_input_schema=self.input_schema,
                on_list_prompts=self.list_prompts,
                on_get_prompt=self.get_prompt,
                on_list_resources=self.list_resources,
                on_list_resource_templates=self.list_resource_templates,
                on_read_resource=self.read_resource,
                on_set_logging_level=self.set_logging_level,
                on_subscribe_resource=self.subscribe,
                on_unsubscribe_resource=self.unsubscribe,
                on_completion=self.complete,
            )


def build_session_manager(
    server: Server,
    *,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    allowed_origins: tuple[str, ...],
    max_body_bytes: int,
    sessions: SessionSettings,
    json_response: bool = False,
) -> StreamableHTTPSessionManager:
    hosts = list(allowed_hosts)
    origins = list(allowed_origins)
    if not hosts and host in ("127.0.0.1", "localhost", "::1"):
        # DNS-rebinding protection on by default for loopback, as the SDK does.
        hosts = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
        origins = origins or ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]
    security = (
        TransportSecuritySettings(enable_dns_rebinding_protection=True, allowed_hosts=hosts, allowed_origins=origins)
        if hosts
        else None
    )
    return StreamableHTTPSessionManager(
        app=server,
        security_settings=security,
        max_request_body_size=max_body_bytes,
        session_idle_timeout=sessions.idle_seconds,
        max_sessions=sessions.total,
        json_response=json_response,
    )
