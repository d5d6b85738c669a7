"""The app factory: the route table of a gateway, and its lifespan; nothing else.

`build_app(gateway)` serves a gateway its caller opened (the CLI opens it first, so a bad
store is one clear line); `create_app(config)` is the same app opening and closing its
own gateway in its lifespan, for any ASGI server.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway import telemetry
from gateway.admin_api import admin_routes
from gateway.approvals import console
from gateway.approvals.api import routes as approval_routes
from gateway.audit.api import routes as audit_routes
from gateway.config import GatewayConfig
from gateway.guards.shedding import LoadShedder
from gateway.incident_routes import incident_routes
from gateway.mcp.front import McpFrontDoor
from gateway.rest import rest_routes
from gateway.runtime import Gateway
from gateway.suspensions import console as agents_console


def build_app(gateway: Gateway) -> Starlette:
    mcp = McpFrontDoor(gateway)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with mcp.running():
            yield

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

    app = Starlette(
        routes=[
            *mcp.routes(),
            Route("/healthz", healthz),
            Route("/readyz", readyz),
            Route("/metrics", metrics),
            *rest_routes(gateway, gateway.config.server.max_body_bytes),
            *admin_routes(gateway),
            *audit_routes(gateway.audit, gateway.authenticate),
            *approval_routes(gateway.approvals, gateway.authenticate),
            *incident_routes(gateway),
            *agents_console.routes(),
            *console.routes(),
        ],
        middleware=[*telemetry.middleware(gateway.telemetry), Middleware(LoadShedder, gateway=gateway)],
        lifespan=lifespan,
    )
    app.state.gateway = gateway
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
                app.state.gateway, served.app = gateway, inner
                yield
        finally:
            served.app = None
            await gateway.close()

    return Starlette(middleware=[Middleware(_ToServed, served=served)], lifespan=lifespan)
