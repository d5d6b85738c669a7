"""The app factory: the route table of a gateway, and its lifespan; nothing else.

`build_app(gateway)` serves a gateway its caller opened (the CLI opens it first, so a bad
store is one clear line); `create_app(config)` is the same app opening and closing its
own gateway in its lifespan, for any ASGI server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import telemetry
from gateway.admin_api import admin_routes, metrics_app, operator_routes
from gateway.approvals import console
from gateway.approvals.api import routes as approval_routes
from gateway.audit.api import routes as audit_routes
from gateway.config import GatewayConfig
from gateway.errors import Problem
from gateway.guards.shedding import LoadShedder
from gateway.identity.console_sign_in import ConsoleSignIn
from gateway.incident_routes import incident_routes
from gateway.mcp.front import McpFrontDoor
from gateway.pins.api import routes as pin_routes
from gateway.problems import problem_handler
from gateway.rest import rest_routes
from gateway.runtime import Gateway
from gateway.serving import running
from gateway.suspensions import console as agents_console


def build_app(gateway: Gateway) -> Starlette:
    mcp = McpFrontDoor(gateway)
    server = gateway.config.server

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with contextlib.AsyncExitStack() as stack:
            if server.metrics_port is not None:
                # Scrapers get a port of their own, which agents' ingress never exposes.
                app.state.metrics_url = await stack.enter_async_context(
                    running(metrics_app(gateway), server.metrics_host, server.metrics_port)
                )
            await stack.enter_async_context(mcp.running())
            yield

    app = Starlette(
        routes=[
            *mcp.routes(),
            *operator_routes(gateway),
            *rest_routes(gateway, gateway.config.server.max_body_bytes),
            *admin_routes(gateway),
            *audit_routes(gateway.audit, gateway.authenticate),
            *approval_routes(gateway.approvals, gateway.authenticate),
            *gateway.integrations.routes(gateway.authenticate),
            *pin_routes(gateway),
            *incident_routes(gateway),
            *agents_console.routes(),
            *console.routes(ConsoleSignIn.from_settings(gateway.config.identity), gateway.resource.base_url),
            *gateway.resource.routes(),
        ],
        middleware=[*telemetry.middleware(gateway.telemetry), Middleware(LoadShedder, gateway=gateway)],
        exception_handlers={Problem: problem_handler},
        lifespan=lifespan,
    )
    app.state.gateway = gateway
    app.state.metrics_url = None
    return app


class _Served:
    """The app of the gateway `create_app`'s lifespan opened (None outside it)."""

    app: ASGIApp | None = None


class _ToServed:
    """Middleware: requests go to the served app; the lifespan, and any request while
    there is none, to the app it wraps."""

    def __init__(self, app: ASGIApp, served: _Served) -> None:
        self.app = app
        self.served = served

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        served = self.served.app
        await (self.app if scope["type"] == "lifespan" or served is None else served)(scope, receive, send)


def create_app(config: GatewayConfig) -> Starlette:
    served = _Served()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        gateway = await Gateway.open(config)
        try:
            inner = build_app(gateway)
            async with inner.router.lifespan_context(inner):
                app.state.gateway, app.state.metrics_url, served.app = gateway, inner.state.metrics_url, inner
                yield
        finally:
            served.app = None
            await gateway.close()

    return Starlette(middleware=[Middleware(_ToServed, served=served)], lifespan=lifespan)
