"""Shared plumbing of the operators' endpoints (kill switch, undo, shadow policy): a bearer
token with one of the allowed roles, JSON bodies checked by pydantic models, and RFC 9457
problem documents for every error."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from gateway.approvals.api import problem
from gateway.auth_gate import challenge
from gateway.identity import AuthError
from gateway.models import Principal

Authenticate = Callable[[Request], Awaitable[Principal]]
Handler = Callable[[Request, Principal], Awaitable[tuple[int, dict[str, Any]]]]
M = TypeVar("M", bound=BaseModel)
MAX_BODY = 16_384
#: Error kinds of the operator services and their HTTP status.
STATUS = {"invalid": 400, "forbidden": 403, "not_found": 404, "conflict": 409, "unavailable": 503}


class ApiProblem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def endpoint(
    authenticate: Authenticate, roles: Callable[[], Iterable[str]], handler: Handler
) -> Callable[[Request], Awaitable[Response]]:
    """`handler` runs for a caller holding one of `roles()`; it returns (status, body) or
    raises ApiProblem, or an error with `kind` and `message` (mapped by STATUS)."""

    async def run(request: Request) -> Response:
        try:
            principal = await authenticate(request)
        except AuthError as exc:
            return problem(401, str(exc), {"WWW-Authenticate": challenge(str(exc))})
        allowed = set(roles())
        if not allowed & set(principal.roles):
            return problem(403, f"requires one of the roles: {', '.join(sorted(allowed))}")
        try:
            status, body = await handler(request, principal)
        except ApiProblem as exc:
            return problem(exc.status, exc.detail)
        except Exception as exc:
            kind = getattr(exc, "kind", None)
            if kind not in STATUS:
                raise
            return problem(STATUS[kind], str(getattr(exc, "message", exc)))
        return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})

    return run


async def read_body(request: Request, model: type[M]) -> M:
    """The JSON body as `model`; 415 for another media type, 400 naming the bad field."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_BODY:
        raise ApiProblem(400, f"request body is larger than {MAX_BODY} bytes")
    if media_type != "application/json":
        raise ApiProblem(415, "the request body must be application/json")
    try:
        return model.model_validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(body)"
        raise ApiProblem(400, f"{where}: {first['msg']}") from None
