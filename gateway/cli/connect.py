"""`gateway connect`: a local MCP server on stdin/stdout that forwards to a remote gateway
with the signed-in identity, for MCP clients that only launch local servers.

It forwards tools (list, call), prompts (list, get) and resources (list, templates, read)
as the remote gateway shows them to this identity; every request is governed there
(policy, approval, audit). The bearer token is read for each request, so
a token refreshed with `gateway login`'s stored refresh token is picked up as it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import mcp_types as types
from mcp import Client
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

from gateway import __version__
from gateway.mcp.client import connect

Context = ServerRequestContext[Any]
ResultT = TypeVar("ResultT", bound=types.Result)

#: The key under which a gateway's own serverInfo arrives; not passed on (it names the hop).
_SERVER_INFO = "io.modelcontextprotocol/serverInfo"


def _without_hop(result: ResultT) -> ResultT:
    if result.meta and _SERVER_INFO in result.meta:
        return result.model_copy(update={"meta": {k: v for k, v in result.meta.items() if k != _SERVER_INFO}})
    return result


def _cursor(params: types.PaginatedRequestParams | None) -> str | None:
    return params.cursor if params else None


def _bridge_server(upstream: Client) -> Server:
    async def list_tools(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return _without_hop(await upstream.list_tools(cursor=_cursor(params)))

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        return _without_hop(await upstream.call_tool(params.name, dict(params.arguments or {})))

    async def list_prompts(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return _without_hop(await upstream.list_prompts(cursor=_cursor(params)))

    async def get_prompt(ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        return _without_hop(await upstream.get_prompt(params.name, dict(params.arguments or {})))

    async def list_resources(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return _without_hop(await upstream.list_resources(cursor=_cursor(params)))

    async def list_templates(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return _without_hop(await upstream.list_resource_templates(cursor=_cursor(params)))

    async def read_resource(ctx: Context, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        return _without_hop(await upstream.read_resource(str(params.uri)))

    return Server(
        "gateway-connect",
        version=__version__,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_list_resources=list_resources,
        on_list_resource_templates=list_templates,
        on_read_resource=read_resource,
    )


async def bridge(mcp_url: str, token: Callable[[], str]) -> None:
    """Serve MCP on stdio until the client hangs up, forwarding to `mcp_url`; raises
    ClientFailure (with the gateway's reason) when the gateway cannot be used."""
    async with connect(mcp_url, token) as upstream:
        server = _bridge_server(upstream)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
