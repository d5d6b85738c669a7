"""Operator endpoints: authenticated, and only for the configured admin role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, request_response

from gateway.auth_gate import BearerAuthGate, principal_of
from gateway.runtime import Gateway


def admin_routes(gateway: Gateway) -> list[Route]:
    role = gateway.config.policy.admin_role

    async def reload_policy(request: Request) -> Response:
        principal = principal_of(request.scope)
        if role not in principal.roles:
            return JSONResponse({"error": "forbidden", "detail": f"requires the {role!r} role"}, status_code=403)
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

    async def policy_status(request: Request) -> Response:
        if role not in principal_of(request.scope).roles:
            return JSONResponse({"error": "forbidden", "detail": f"requires the {role!r} role"}, status_code=403)
        return JSONResponse(gateway.policy.status())

    def gated(endpoint: Callable[[Request], Awaitable[Response]]) -> BearerAuthGate:
        return BearerAuthGate(request_response(endpoint), gateway.authenticate)

    return [
        Route("/v1/admin/policy", gated(policy_status), methods=["GET"]),
        Route("/v1/admin/policy/reload", gated(reload_policy), methods=["POST"]),
    ]
