"""The MCP front door: one MCP server (official SDK, Streamable HTTP) showing the tools
of every connector as `connector.tool`, each call handed to the pipeline."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import mcp_types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings

from gateway import __version__
from gateway.auth_gate import principal_of
from gateway.errors import CallRefused, UnknownTool
from gateway.models import Principal, ToolCall, ToolResult, ToolSpec, split_qualified_name
from gateway.tracing import continue_trace

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger(__name__)


def _tool(spec: ToolSpec) -> types.Tool:
    return types.Tool(
        name=spec.qualified_name,
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


def build_mcp_server(gateway: Gateway) -> Server:
    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[_tool(s) for s in await gateway.tools_for(_principal(ctx))])

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        principal = _principal(ctx)
        parts = split_qualified_name(params.name)
        if parts is None:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name!r} (tool names are 'connector.tool')")
        headers: Mapping[str, str] = ctx.request.headers if ctx.request is not None else {}
        trace_id, traceparent = continue_trace(headers.get("traceparent"))
        arguments: dict[str, Any] = params.arguments or {}
        call = ToolCall(
            call_id=uuid.uuid4().hex,
            principal=principal,
            connector=parts[0],
            tool=parts[1],
            arguments=arguments,
            trace_id=trace_id,
            traceparent=traceparent,
            front_door="mcp",
            client=_client_name(ctx),
        )
        try:
            return _call_result(await gateway.pipeline.run(call))
        except UnknownTool as exc:
            # The spec answers an unknown tool with a protocol error, not a tool result.
            raise MCPError(types.INVALID_PARAMS, exc.message) from None
        except CallRefused as exc:
            return _error_result(exc.message)
        except Exception:
            # Internal text never reaches the agent; the call id finds the log line.
            log.exception("call %s failed inside the gateway", call.call_id)
            return _error_result(f"internal gateway error (call id {call.call_id})")

    def input_schema(name: str) -> Mapping[str, Any] | None:
        entry = gateway.catalog.entry(name)
        return entry.spec.input_schema if entry is not None else None

    return Server(
        "agent-gateway",
        version=__version__,
        instructions="Governed tools: every call is authorized by policy, may wait for human approval, and is audited.",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=input_schema,
    )


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
