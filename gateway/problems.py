"""RFC 9457 problem details: the one error shape of every HTTP endpoint (REST front door,
approvals, audit, admin, and the 401 of /mcp), and the one place the bearer challenge and
the 401/403 answers are built."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Problem types are URNs: stable identifiers a client can switch on, not pages to fetch.
TYPE_PREFIX = "urn:agent-gateway:problem:"
REALM = "agent-gateway"


def problem_response(
    status: int, kind: str, detail: str, *, headers: Mapping[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **{k: v for k, v in extensions.items() if v is not None},
    }
    return JSONResponse(body, status_code=status, headers=dict(headers or {}), media_type=PROBLEM_MEDIA_TYPE)


def from_problem(problem: Problem) -> JSONResponse:
    return problem_response(problem.status, problem.kind, problem.detail, headers=problem.headers, **problem.extensions)


async def problem_handler(request: Request, exc: Exception) -> Response:
    """Starlette exception handler: a `Problem` raised anywhere becomes its document."""
    if not isinstance(exc, Problem):
        raise exc
    return from_problem(exc)


def challenge(reason: str) -> str:
    """The WWW-Authenticate value of every 401 (RFC 6750): add parameters here, once."""
    description = reason.replace('"', "'").replace("\\", "/")
    return f'Bearer realm="{REALM}", error="invalid_token", error_description="{description}"'


def unauthorized(reason: str) -> JSONResponse:
    """401: no usable bearer token; `reason` says which check failed."""
    return problem_response(401, "unauthenticated", reason, headers={"WWW-Authenticate": challenge(reason)})


def forbidden(roles: tuple[str, ...]) -> JSONResponse:
    """403: a valid token without any of the roles the endpoint requires."""
    needed = f"the {roles[0]!r} role" if len(roles) == 1 else f"one of the roles: {', '.join(roles)}"
    return problem_response(403, "forbidden", f"requires {needed}")
