"""`gateway connect`: a local MCP server on stdin/stdout that forwards to a remote gateway
with the signed-in identity, for MCP clients that only launch local servers.

It lists and calls the tools the remote gateway shows this identity; every call is
governed there (policy, approval, audit). The bearer token is read for each request, so
a token refreshed by `gateway login`'s stored refresh token is picked up as it changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import httpx2
import mcp_types as types
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

from gateway import __version__

#: The key under which a gateway's own serverInfo arrives; not passed on (it names the hop).
_SERVER_INFO = "io.modelcontextprotocol/serverInfo"


def _bridge_server(upstream: Client) -> Server:
    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        listed = await upstream.list_tools(cursor=params.cursor if params else None)
        return types.ListToolsResult(tools=listed.tools, next_cursor=listed.next_cursor)

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        result = await upstream.call_tool(params.name, dict(params.arguments or {}))
        if result.meta and _SERVER_INFO in result.meta:
            result = result.model_copy(update={"meta": {k: v for k, v in result.meta.items() if k != _SERVER_INFO}})
        return result

    return Server("gateway-connect", version=__version__, on_list_tools=list_tools, on_call_tool=call_tool)


async def bridge(mcp_url: str, token: Callable[[], str]) -> None:
    """Serve MCP on stdio until the client hangs up, forwarding to `mcp_url`."""

    async def authorize(request: httpx2.Request) -> None:
        # May refresh over the network: kept off the event loop.
        request.headers["Authorization"] = f"Bearer {await asyncio.to_thread(token)}"

    http = httpx2.AsyncClient(timeout=httpx2.Timeout(30, read=300), event_hooks={"request": [authorize]})
    async with http, Client(streamable_http_client(mcp_url, http_client=http), cache=None) as upstream:
        server = _bridge_server(upstream)
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())
