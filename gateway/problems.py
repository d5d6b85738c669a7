"""RFC 9457 problem details: the one error shape of every HTTP endpoint (REST front door,
approvals, audit, admin, and the 401 of /mcp), and the one place the bearer challenge and
the 401/403 answers are built."""

from __future__ import annotations

import math
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.errors import AuthError, Problem

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


def challenge(exc: AuthError) -> str:
    """The WWW-Authenticate value of every refused token (RFC 6750): the one the
    Authenticator built for the request (naming the protected-resource metadata, RFC 9728),
    else a bare one with quotes kept out of the description."""
    if exc.www_authenticate is not None:
        return exc.www_authenticate
    description = str(exc).replace('"', "'").replace("\\", "/")
    return f'Bearer realm="{REALM}", error="{exc.error or "invalid_token"}", error_description="{description}"'


def unauthorized(exc: AuthError) -> JSONResponse:
    """401 (no usable bearer token), 403 (insufficient scope) or 429 (too many refused
    tokens from this source): the message says which check failed."""
    if exc.status == 429:  # a source that keeps presenting bad tokens (gateway.guards.auth_failures)
        retry = max(1, math.ceil(float(getattr(exc, "retry_after", 1.0))))
        return problem_response(429, "too_many_requests", str(exc), headers={"Retry-After": str(retry)})
    kind = "insufficient-scope" if exc.status == 403 else "unauthenticated"
    return problem_response(exc.status, kind, str(exc), headers={"WWW-Authenticate": challenge(exc)})


def forbidden_text(roles: tuple[str, ...]) -> str:
    """Why a valid token without any of `roles` is refused."""
    return f"requires the {roles[0]!r} role" if len(roles) == 1 else f"requires one of the roles: {', '.join(roles)}"


def forbidden(refusal: str) -> JSONResponse:
    """403: a valid token the endpoint does not admit; `refusal` says what it needs."""
    return problem_response(403, "forbidden", refusal)
