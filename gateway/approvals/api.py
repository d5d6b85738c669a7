"""The approvers' REST API. Errors are RFC 9457 problem documents.

GET  /v1/approvals?state=pending|decided|approved|denied|expired|all&connector=&tool=&agent=&limit=
GET  /v1/approvals/{approval_id}
POST /v1/approvals/{approval_id}/approve   {"comment": "..."}            (comment optional)
POST /v1/approvals/{approval_id}/deny      {"comment": "why"}            (comment required)

Every request needs a bearer JWT with one of `approvals.approver_roles`; a vote also needs
the role the rule names, and never comes from the requester itself.
"""

from __future__ import annotations

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
from gateway.auth_gate import Authorize, Endpoint, principal_of, requires_role
from gateway.errors import Problem
from gateway.models import ApprovalState, Principal

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


def _bad_request(detail: str) -> Problem:
    return Problem(400, "bad_request", detail)


def answering(handler: Handler) -> Endpoint:
    """The handler's JSON (never cached), or its ApprovalError as a problem."""

    async def endpoint(request: Request) -> Response:
        try:
            body = await handler(request, principal_of(request.scope))
        except ApprovalError as exc:
            raise Problem(_STATUS[exc.kind], exc.kind, exc.message) from None
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    return endpoint


def approval_json(stored: StoredApproval, *, arguments: bool = True) -> dict[str, Any]:
    data = approval_to_json(
        stored.approval, decided_at=stored.decided_at, execution=stored.execution, arguments=arguments
    )
    if stored.approval.state in (ApprovalState.DENIED, ApprovalState.EXPIRED):
        data["reason"] = deny_reason(stored.approval)
    return data


def routes(service: ApprovalService, authorize: Authorize) -> list[Route]:
    """`authorize(request)` returns the caller's Principal or raises AuthError (401)."""
    approver = requires_role(*service.settings.approver_roles, authenticate=authorize)

    def guarded(handler: Handler) -> Endpoint:
        return approver(answering(handler))

    async def list_approvals(request: Request, principal: Principal) -> dict[str, Any]:
        params = request.query_params
        unknown = set(params) - _LIST_PARAMS
        if unknown:
            raise _bad_request(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        state = params.get("state", "pending")
        if state not in _STATES:
            raise _bad_request(f"query parameter 'state' must be one of {', '.join(_STATES)}, got {state!r}")
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
        raise _bad_request(f"query parameter 'limit' must be an integer, got {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise _bad_request(f"query parameter 'limit' must be between 1 and {MAX_LIMIT}, got {value}")
    return value


async def _comment(request: Request) -> str:
    # JSON only: a cross-site HTML form cannot send it without a CORS preflight.
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    body = await request.body()
    if len(body) > MAX_BODY:
        raise _bad_request(f"request body is larger than {MAX_BODY} bytes")
    if not body:
        return ""
    if media_type != "application/json":
        raise Problem(415, "unsupported_media_type", "the request body must be application/json")
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise _bad_request("the request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise _bad_request('the request body must be a JSON object like {"comment": "..."}')
    unknown = set(data) - {"comment"}
    if unknown:
        raise _bad_request(f"unknown field(s) in the request body: {', '.join(sorted(unknown))}")
    comment = data.get("comment", "")
    if not isinstance(comment, str):
        raise _bad_request("'comment' must be a string")
    if len(comment) > MAX_COMMENT:
        raise _bad_request(f"'comment' is longer than {MAX_COMMENT} characters")
    return comment
