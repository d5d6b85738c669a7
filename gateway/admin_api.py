"""Operator endpoints: authenticated, and only for the configured admin role."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth_gate import principal_of, requires_role
from gateway.runtime import Gateway


def admin_routes(gateway: Gateway) -> list[Route]:
    @requires_role(gateway.config.policy.admin_role, authenticate=gateway.authenticate)
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

    return [Route("/v1/admin/policy/reload", reload_policy, methods=["POST"])]
