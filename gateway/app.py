"""The app factory: routes, lifespan, nothing else."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway import telemetry
from gateway.admin_api import admin_routes
from gateway.approvals import console
from gateway.approvals.api import routes as approval_routes
from gateway.audit.api import routes as audit_routes
from gateway.auth_gate import BearerAuthGate
from gateway.config import GatewayConfig
from gateway.errors import Problem
from gateway.mcp.front import build_mcp_server, build_session_manager
from gateway.mcp.sessions import AgentSessions
from gateway.problems import problem_handler
from gateway.rest import rest_routes
from gateway.runtime import Gateway


def create_app(config: GatewayConfig) -> Starlette:
    gateway = Gateway(config)
    sessions = AgentSessions()
    gateway.listing_listeners.append(sessions.announce)
    gateway.resource_listeners.append(sessions.resource_updated)
    server = build_mcp_server(gateway, sessions)
    s = config.server
    manager = build_session_manager(
        server,
        host=s.host,
        port=s.port,
        allowed_hosts=s.allowed_hosts,
        allowed_origins=s.allowed_origins,
        max_body_bytes=s.max_body_bytes,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await gateway.start()
        # These endpoints serve stores opened by start(), so they join the routes then.
        app.router.routes.extend(audit_routes(gateway.audit, gateway.authenticate))
        app.router.routes.extend(approval_routes(gateway.approvals, gateway.authenticate))
        try:
            async with manager.run():
                yield
        finally:
            await gateway.stop()

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        state = await gateway.readiness()
        ready = state["audit"] and bool(state["policy"])
        return JSONResponse({"ready": ready, **state}, status_code=200 if ready else 503)

    async def metrics(request: Request) -> Response:
        # Rendering thousands of series takes milliseconds: keep it off the event loop.
        body = await asyncio.to_thread(gateway.metrics.render)
        return Response(body, media_type=gateway.metrics.content_type)

    mcp_endpoint = BearerAuthGate(StreamableHTTPASGIApp(manager), gateway.authenticate)
    app = Starlette(
        routes=[
            Route("/mcp", mcp_endpoint, methods=["GET", "POST", "DELETE"]),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *rest_routes(gateway, s.max_body_bytes),
            *admin_routes(gateway),
            *console.routes(),
        ],
        middleware=telemetry.middleware(gateway.telemetry),
        exception_handlers={Problem: problem_handler},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    return app
