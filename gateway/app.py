"""The app factory: routes, lifespan, nothing else."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from starlette.applications import Starlette
from starlette.routing import Route

from gateway import telemetry
from gateway.admin_api import admin_routes, metrics_app, operator_routes
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
from gateway.serving import running


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
            async with contextlib.AsyncExitStack() as stack:
                if s.metrics_port is not None:
                    # Scrapers get a port of their own, which agents' ingress never exposes.
                    app.state.metrics_url = await stack.enter_async_context(
                        running(metrics_app(gateway), s.metrics_host, s.metrics_port)
                    )
                await stack.enter_async_context(manager.run())
                yield
        finally:
            await gateway.stop()

    mcp_endpoint = BearerAuthGate(StreamableHTTPASGIApp(manager), gateway.authenticate)
    app = Starlette(
        routes=[
            Route("/mcp", mcp_endpoint, methods=["GET", "POST", "DELETE"]),
            *operator_routes(gateway),
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
