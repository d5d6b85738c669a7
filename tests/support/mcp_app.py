"""An MCP server of the official SDK served over Streamable HTTP at `/mcp` of a Starlette
app, as test upstreams run it (`async with running(mcp_app(server)) as url`)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from mcp.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.applications import Starlette
from starlette.routing import Route


def mcp_app(server: Server, security: TransportSecuritySettings | None = None) -> Starlette:
    manager = StreamableHTTPSessionManager(app=server, security_settings=security)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    return Starlette(
        routes=[Route("/mcp", StreamableHTTPASGIApp(manager), methods=["GET", "POST", "DELETE"])], lifespan=lifespan
    )
