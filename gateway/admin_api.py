"""Operator endpoints: the admin API (the configured admin role), /readyz (the details
for an admin only) and /metrics (on a listener of its own, or behind a scrape token)."""

from __future__ import annotations

import asyncio
import hmac

from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from gateway.auth_gate import Endpoint, holds_role, principal_of, requires_role
from gateway.errors import AuthError
from gateway.identity import bearer_token
from gateway.problems import problem_response, unauthorized
from gateway.runtime import Gateway


def admin_routes(gateway: Gateway) -> list[Route]:
    admin = requires_role(gateway.config.policy.admin_role, authenticate=gateway.authenticate)

    @admin
    async def reload_policy(request: Request) -> Response:
        principal = principal_of(request.scope)
        result = await gateway.reload_policy(f"admin endpoint ({principal.subject})")
        body = {
            "ok": result.ok,
            "changed": result.changed,
            "version": result.version,
            "active_version": result.active_version,
            "files": dict(result.file_hashes),
            "error": result.error,
        }
        return JSONResponse(body, status_code=200 if result.ok else 422)

    @admin
    async def policy_status(request: Request) -> Response:
        return JSONResponse(gateway.policy.status())

    return [
        Route("/v1/admin/policy", policy_status, methods=["GET"]),
        Route("/v1/admin/policy/reload", reload_policy, methods=["POST"]),
    ]


def operator_routes(gateway: Gateway) -> list[Route]:
    """/healthz, /readyz and, on the agents' listener, /metrics when a scrape token guards it."""
    server = gateway.config.server

    async def healthz(request: Request) -> Response:
        return PlainTextResponse("ok")

    async def readyz(request: Request) -> Response:
        # Never a 401: a probe without a token gets the public view.
        state = gateway.readiness()
        body = state.operator() if await _is_admin(gateway, request) else state.public()
        return JSONResponse(body, status_code=200 if state.ready else 503, headers={"Cache-Control": "no-store"})

    if server.metrics_port is None and server.metrics_token is not None:
        metrics = metrics_endpoint(gateway, server.metrics_token)
    else:
        metrics = _metrics_elsewhere
    return [Route("/healthz", healthz), Route("/readyz", readyz), Route("/metrics", metrics)]


def metrics_app(gateway: Gateway) -> Starlette:
    """The metrics listener (`server.metrics_port`): /metrics only."""
    return Starlette(routes=[Route("/metrics", metrics_endpoint(gateway, gateway.config.server.metrics_token))])


def metrics_endpoint(gateway: Gateway, token: SecretStr | None) -> Endpoint:
    async def metrics(request: Request) -> Response:
        if token is not None and not _carries(request, token):
            return unauthorized(AuthError("/metrics needs the scrape token (server.metrics_token) as a bearer token"))
        # Rendering thousands of series takes milliseconds: keep it off the event loop.
        body = await asyncio.to_thread(gateway.metrics.render)
        return Response(body, media_type=gateway.metrics.content_type)

    return metrics


async def _metrics_elsewhere(request: Request) -> Response:
    detail = "metrics are not served on the agents' port: see server.metrics_port and server.metrics_token"
    return problem_response(404, "not_found", detail)


def _carries(request: Request, token: SecretStr) -> bool:
    try:
        sent = bearer_token(request.headers)
    except AuthError:
        return False
    return hmac.compare_digest(sent.encode(), token.get_secret_value().encode())


async def _is_admin(gateway: Gateway, request: Request) -> bool:
    if "authorization" not in request.headers:
        return False
    try:
        principal = await gateway.verifier.verify(bearer_token(request.headers))
    except AuthError:
        return False
    return holds_role(principal, (gateway.config.policy.admin_role,))
