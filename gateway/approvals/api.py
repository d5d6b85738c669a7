"""The approvers' REST API. Errors are RFC 9457 problem documents.

GET  /v1/approvals?state=pending|decided|approved|denied|expired|all&connector=&tool=&agent=&limit=
GET  /v1/approvals/{approval_id}
POST /v1/approvals/{approval_id}/approve   {"comment": "..."}            (comment optional)
POST /v1/approvals/{approval_id}/deny      {"comment": "why"}            (comment required)

Every request needs a bearer JWT with one of `approvals.approver_roles`; a vote also needs
the role the rule names, and never comes from the requester itself.
"""

from __future__ import annotations

import inspect
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.approvals.codec import approval_to_json
from gateway.approvals.errors import ApprovalError
from gateway.approvals.machine import deny_reason
from gateway.approvals.service import ApprovalService
from gateway.approvals.store import ApprovalFilter, StoredApproval
from gateway.auth_gate import challenge
from gateway.identity import AuthError
from gateway.models import ApprovalState, Principal

Authorize = Callable[[Request], Principal | Awaitable[Principal]]
Handler = Callable[[Request, Principal], Awaitable[dict[str, Any]]]

MAX_LIMIT = 500
MAX_COMMENT = 2000
MAX_BODY = 16_384
_STATES: dict[str, tuple[ApprovalState, ...] | None] = {
    "pending": (ApprovalState.PENDING,),
    "decided": (ApprovalState.APPROVED, ApprovalState.DENIED, ApprovalState.EXPIRED),
    "approved": (ApprovalState.APPROVED,),
    "denied": (ApprovalState.DENIED,),
    "expired": (ApprovalState.EXPIRED,),
    "all": None,
}
_LIST_PARAMS = {"state", "connector", "tool", "agent", "limit"}
_STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 400, "unavailable": 503}
_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    409: "Conflict",
    415: "Unsupported media type",
    503: "Service unavailable",
}


class _Problem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def problem(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    body = {"type": "about:blank", "title": _TITLES.get(status, "Error"), "status": status, "detail": detail}
    return JSONResponse(body, status_code=status, media_type="application/problem+json", headers=headers)


def approval_json(stored: StoredApproval, *, arguments: bool = True) -> dict[str, Any]:
    data = approval_to_json(
        stored.approval, decided_at=stored.decided_at, execution=stored.execution, arguments=arguments
    )
    if stored.approval.state in (ApprovalState.DENIED, ApprovalState.EXPIRED):
        data["reason"] = deny_reason(stored.approval)
    return data


def routes(service: ApprovalService, authorize: Authorize) -> list[Route]:
    """`authorize(request)` returns the caller's Principal or raises AuthError (401)."""
    allowed = set(service.settings.approver_roles)

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                principal = authorize(request)
                if inspect.isawaitable(principal):
                    principal = await principal
            except AuthError as exc:
                return problem(exc.status, str(exc), {"WWW-Authenticate": challenge(exc)})
            if not allowed & set(principal.roles):
                return problem(403, f"requires one of the approver roles: {', '.join(sorted(allowed))}")
            try:
                return JSONResponse(await handler(request, principal), headers={"Cache-Control": "no-store"})
            except _Problem as exc:
                return problem(exc.status, exc.detail)
            except ApprovalError as exc:
                return problem(_STATUS[exc.kind], exc.message)

        return endpoint

    async def list_approvals(request: Request, principal: Principal) -> dict[str, Any]:
        params = request.query_params
        unknown = set(params) - _LIST_PARAMS
        if unknown:
            raise _Problem(400, f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        state = params.get("state", "pending")
        if state not in _STATES:
            raise _Problem(400, f"query parameter 'state' must be one of {', '.join(_STATES)}, got {state!r}")
        limit = _limit(params.get("limit"))
        found = await service.list(
            ApprovalFilter(
                states=_STATES[state],
                connector=params.get("connector") or None,
                tool=params.get("tool") or None,
                agent=params.get("agent") or None,
                limit=limit,
            )
        )
        return {"approvals": [approval_json(s, arguments=False) for s in found], "now": time.time()}

    async def show(request: Request, principal: Principal) -> dict[str, Any]:
        stored = await service.get(request.path_params["approval_id"])
        return {"approval": approval_json(stored), "now": time.time()}

    def voting(approve: bool) -> Handler:
        async def vote(request: Request, principal: Principal) -> dict[str, Any]:
            comment = await _comment(request)
            approval_id = request.path_params["approval_id"]
            await service.vote(approval_id, principal, approve, comment)
            return {"approval": approval_json(await service.get(approval_id)), "now": time.time()}

        return vote

    return [
        Route("/v1/approvals", guarded(list_approvals), methods=["GET"]),
        Route("/v1/approvals/{approval_id}", guarded(show), methods=["GET"]),
        Route("/v1/approvals/{approval_id}/approve", guarded(voting(True)), methods=["POST"]),
        Route("/v1/approvals/{approval_id}/deny", guarded(voting(False)), methods=["POST"]),
    ]


def _limit(raw: str | None) -> int:
    if raw is None:
        return 100
    try:
        value = int(raw)
    except ValueError:
        raise _Problem(400, f"query parameter 'limit' must be an integer, got {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise _Problem(400, f"query parameter 'limit' must be between 1 and {MAX_LIMIT}, got {value}")
    return value


async def _comment(request: Request) -> str:
    # JSON only: a cross-site HTML form cannot send it without a CORS preflight.
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_BODY:
        raise _Problem(400, f"request body is larger than {MAX_BODY} bytes")
    if not body:
        return ""
    if media_type != "application/json":
        raise _Problem(415, "the request body must be application/json")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _Problem(400, "the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _Problem(400, 'the request body must be a JSON object like {"comment": "..."}')
    unknown = set(data) - {"comment"}
    if unknown:
        raise _Problem(400, f"unknown field(s) in the request body: {', '.join(sorted(unknown))}")
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        raise _Problem(400, "'comment' must be a string")
    if len(comment) > MAX_COMMENT:
        raise _Problem(400, f"'comment' is longer than {MAX_COMMENT} characters")
    return comment
