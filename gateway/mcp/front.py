"""The MCP front door: one MCP server (official SDK, Streamable HTTP) showing the tools
of every connector as `connector.tool` and the prompts and resources of upstream MCP
servers, each call handed to the pipeline and each read governed by the same policy.

While a call runs, the agent's session is its back-channel: upstream progress and log
messages reach it (gateway.relay), and the agent's cancel cancels the upstream request.
"""

from __future__ import annotations

import logging
import uuid
import warnings
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import mcp_types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.lowlevel.server import NotificationOptions
from mcp.server.models import InitializationOptions
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning

from gateway import __version__
from gateway.approvals.mcp_agent import (
    STATUS_INPUT_SCHEMA,
    STATUS_TOOL,
    InvalidWait,
    pending_result,
    status_result,
    status_tool,
    wait_seconds,
)
from gateway.auth_gate import principal_of
from gateway.errors import ApprovalPending, CallRefused, UnknownTool
from gateway.mcp.backchannel import agent_relay
from gateway.mcp.features import McpFeatures
from gateway.mcp.sessions import AgentSessions
from gateway.models import Principal, ToolCall, ToolResult, ToolSpec
from gateway.naming import AgentNames
from gateway.relay import relaying
from gateway.tracing import continue_trace

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger(__name__)

T = TypeVar("T")
INSTRUCTIONS = "Governed tools: every call is authorized by policy, may wait for human approval, and is audited."


def _tool(spec: ToolSpec, name: str) -> types.Tool:
    return types.Tool(
        name=name,
        title=spec.title,
        description=spec.description,
        input_schema=dict(spec.input_schema),
        annotations=types.ToolAnnotations(read_only_hint=True) if spec.read_only else None,
    )


def _call_result(result: ToolResult) -> types.CallToolResult:
    return types.CallToolResult.model_validate(
        {"content": list(result.content), "isError": result.is_error, "structuredContent": result.structured}
    )


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


def build_mcp_server(gateway: Gateway, sessions: AgentSessions) -> Server:
    settings = gateway.config.frontdoors
    names = AgentNames([c.name for c in gateway.connectors], settings.unprefixed_connector)
    features = McpFeatures(gateway, names)

    def principal(ctx: ServerRequestContext) -> Principal:
        sessions.seen(ctx.session)
        return _principal(ctx)

    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        specs = await gateway.tools_for(principal(ctx))
        tools = [*(_tool(s, names.shown(s.connector, s.name)) for s in specs), status_tool()]
        page, cursor = paginate(tools, params, settings.page_size)
        return types.ListToolsResult(tools=page, next_cursor=cursor)

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        who = principal(ctx)
        if params.name == STATUS_TOOL:
            return await status_result(gateway.approvals, who, params.arguments or {})
        try:
            wait = wait_seconds(params.meta)
        except InvalidWait as exc:
            raise MCPError(types.INVALID_PARAMS, str(exc)) from None
        parts = names.resolve(params.name)
        if parts is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name!r} (tool names are 'connector.tool')")
        headers: Mapping[str, str] = ctx.request.headers if ctx.request is not None else {}
        trace_id, traceparent = continue_trace(headers.get("traceparent"))
        arguments: dict[str, Any] = params.arguments or {}
        call = ToolCall(
            call_id=uuid.uuid4().hex,
            principal=who,
            connector=parts[0],
            tool=parts[1],
            arguments=arguments,
            trace_id=trace_id,
            traceparent=traceparent,
            front_door="mcp",
            client=_client_name(ctx),
            wait_seconds=wait,
        )
        try:
            with relaying(agent_relay(ctx, who, parts[0], parts[1], features, sessions)):
                return _call_result(await gateway.pipeline.run(call))
        except UnknownTool as exc:
            # The spec answers an unknown tool with a protocol error, not a tool result.
            raise MCPError(types.INVALID_PARAMS, exc.message) from None
        except ApprovalPending as exc:
            return pending_result(exc)
        except CallRefused as exc:
            return _error_result(exc.message)
        except Exception:
            # Internal text never reaches the agent; the call id finds the log line.
            log.exception("call %s failed inside the gateway", call.call_id)
            return _error_result(f"internal gateway error (call id {call.call_id})")

    def input_schema(name: str) -> Mapping[str, Any] | None:
        if name == STATUS_TOOL:
            return STATUS_INPUT_SCHEMA
        parts = names.resolve(name)
        entry = gateway.catalog.entry(f"{parts[0]}.{parts[1]}") if parts is not None else None
        return entry.spec.input_schema if entry is not None else None

    async def governed(work: Awaitable[T]) -> T:
        """A prompt get, resource read or subscription: refusals are JSON-RPC errors (these
        results have no isError)."""
        try:
            return await work
        except UnknownTool as exc:
            raise MCPError(types.INVALID_PARAMS, exc.message) from None
        except CallRefused as exc:
            raise MCPError(types.INVALID_REQUEST if exc.status < 500 else types.INTERNAL_ERROR, exc.message) from None

    async def list_prompts(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListPromptsResult:
        page, cursor = paginate(await features.list_prompts(principal(ctx)), params, settings.page_size)
        return types.ListPromptsResult(prompts=page, next_cursor=cursor)

    async def get_prompt(ctx: ServerRequestContext, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        return await governed(features.get_prompt(principal(ctx), params.name, params.arguments or {}))

    async def list_resources(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        page, cursor = paginate(await features.list_resources(principal(ctx)), params, settings.page_size)
        return types.ListResourcesResult(resources=page, next_cursor=cursor)

    async def list_resource_templates(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        templates = await features.list_resource_templates(principal(ctx))
        page, cursor = paginate(templates, params, settings.page_size)
        return types.ListResourceTemplatesResult(resource_templates=page, next_cursor=cursor)

    async def read_resource(
        ctx: ServerRequestContext, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        return await governed(features.read_resource(principal(ctx), str(params.uri)))

    async def subscribe(ctx: ServerRequestContext, params: types.SubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        upstream = await governed(features.subscribe(principal(ctx), uri))
        if sessions.subscribe(ctx.session, uri):  # one upstream subscription serves every agent
            await governed(features.forward(upstream, lambda: upstream.subscribe_resource(uri)))
        return types.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        uri = str(params.uri)
        if sessions.unsubscribe(ctx.session, uri):
            upstream = await governed(features.route(uri))
            await governed(features.forward(upstream, lambda: upstream.unsubscribe_resource(uri)))
        return types.EmptyResult()

    async def complete(ctx: ServerRequestContext, params: types.CompleteRequestParams) -> types.CompleteResult:
        return await governed(features.complete(principal(ctx), params))

    async def set_logging_level(ctx: ServerRequestContext, params: types.SetLevelRequestParams) -> types.EmptyResult:
        sessions.set_level(ctx.session, params.level)
        return types.EmptyResult()

    with warnings.catch_warnings():
        # Logging is deprecated from 2026-07-28 on, but 2025 agents still read upstream logs through it.
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        server = _GatewayServer(
            "agent-gateway",
            version=__version__,
            instructions=INSTRUCTIONS,
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            get_tool_input_schema=input_schema,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
            on_list_resources=list_resources,
            on_list_resource_templates=list_resource_templates,
            on_read_resource=read_resource,
            on_set_logging_level=set_logging_level,
            on_subscribe_resource=subscribe,
            on_unsubscribe_resource=unsubscribe,
            on_completion=complete,
        )
    return server


def build_session_manager(
    server: Server,
    *,
    host: str,
    port: int,
    allowed_hosts: tuple[str, ...],
    allowed_origins: tuple[str, ...],
    max_body_bytes: int,
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
    return StreamableHTTPSessionManager(app=server, security_settings=security, max_request_body_size=max_body_bytes)
