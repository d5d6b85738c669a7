"""The approvers' REST API. Errors are RFC 9457 problem documents.

GET  /v1/approvals?state=pending|decided|approved|denied|expired|superseded|all
                 &connector=&tool=&agent=&limit=&order=newest|oldest&cursor=
GET  /v1/approvals/{approval_id}
POST /v1/approvals/{approval_id}/approve   {"comment": "..."}            (comment optional)
POST /v1/approvals/{approval_id}/deny      {"comment": "why"}            (comment required)

Every request needs a bearer JWT holding one of `approvals.approver_roles` or
`approvals.auditor_roles` (resolved through the policy's `g` rows, see scope.py). Listing
and detail show only approvals the caller could vote on (the rule's approver role, in the
call's tenant or granted across tenants) or may read as an auditor; any other id is 404.
A vote also never comes from the requester itself.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.approvals.call_status import outcome_text
from gateway.approvals.codec import approval_to_json
from gateway.approvals.errors import ApprovalError
from gateway.approvals.machine import deny_reason
from gateway.approvals.presentation import is_high_impact, outcome, summarize
from gateway.approvals.service import ApprovalService
from gateway.approvals.store import ApprovalFilter, StoredApproval
from gateway.auth_gate import Authorize, Endpoint, principal_of, requires
from gateway.errors import Problem
from gateway.models import ApprovalState, Principal

Handler = Callable[[Request, Principal], Awaitable[dict[str, Any]]]

MAX_LIMIT = 500
MAX_COMMENT = 2000
MAX_BODY = 16_384
_STATES: dict[str, tuple[ApprovalState, ...] | None] = {
    "pending": (ApprovalState.PENDING,),
    "decided": (ApprovalState.APPROVED, ApprovalState.DENIED, ApprovalState.EXPIRED, ApprovalState.SUPERSEDED),
    "approved": (ApprovalState.APPROVED,),
    "denied": (ApprovalState.DENIED,),
    "expired": (ApprovalState.EXPIRED,),
    "superseded": (ApprovalState.SUPERSEDED,),
    "all": None,
}
_LIST_PARAMS = {"state", "connector", "tool", "agent", "limit", "order", "cursor"}
_STATUS = {"not_found": 404, "forbidden": 403, "conflict": 409, "invalid": 400, "unavailable": 503, "limited": 429}


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


def approval_json(
    stored: StoredApproval, service: ApprovalService, viewer: Principal, *, arguments: bool = True
) -> dict[str, Any]:
    """The approval as `viewer` sees it: with the one-line argument summary, whether and
    why it cannot vote, whether it is high-impact and the execution's outcome."""
    approval = stored.approval
    data = approval_to_json(approval, decided_at=stored.decided_at, execution=stored.execution, arguments=arguments)
    if approval.state in (ApprovalState.DENIED, ApprovalState.EXPIRED, ApprovalState.SUPERSEDED):
        data["reason"] = deny_reason(approval, outcome_text(stored.result))
    refusal = service.vote_refusal(approval, viewer)
    execute_by = service.execute_by(stored) if approval.state is ApprovalState.APPROVED else None
    data.update(
        summary=summarize(approval.arguments),
        vote={"allowed": refusal is None, "reason": refusal},
        high_impact=is_high_impact(approval, service.settings),
        outcome=outcome(stored, execute_by, time.time()),
        execute_by=execute_by,
    )
    return data


def routes(service: ApprovalService, authorize: Authorize) -> list[Route]:
    """`authorize(request)` returns the caller's Principal or raises AuthError (401)."""
    needed = f"requires one of the approver roles: {', '.join(sorted(service.settings.approver_roles))}"
    if service.settings.auditor_roles:
        needed += f" (or, to read only, an auditor role: {', '.join(sorted(service.settings.auditor_roles))})"
    # Approver roles are resolved per tenant through the policy's g rows (scope.py), so the
    # admission is the scope's, not a plain role check.
    approver = requires(service.scope.may_use_api, needed, authenticate=authorize)

    def guarded(handler: Handler) -> Endpoint:
        return approver(answering(handler))

    async def show(request: Request, principal: Principal) -> dict[str, Any]:
        stored = await service.get(request.path_params["approval_id"], principal)
        return {"approval": approval_json(stored, service, principal), "now": time.time()}

    def voting(approve: bool) -> Handler:
        async def vote(request: Request, principal: Principal) -> dict[str, Any]:
            comment = await _comment(request)
            approval_id = request.path_params["approval_id"]
            await service.vote(approval_id, principal, approve, comment)
            stored = await service.get(approval_id, principal)
            return {"approval": approval_json(stored, service, principal), "now": time.time()}

        return vote

    return [
        Route("/v1/approvals", guarded(functools.partial(_list_approvals, service)), methods=["GET"]),
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


async def _list_approvals(service: ApprovalService, request: Request, principal: Principal) -> dict[str, Any]:
    """A page of the approvals `principal` may see, with the total and the next cursor."""
    params = request.query_params
    unknown = set(params) - _LIST_PARAMS
    if unknown:
        raise _bad_request(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
    state = params.get("state", "pending")
    if state not in _STATES:
        raise _bad_request(f"query parameter 'state' must be one of {', '.join(_STATES)}, got {state!r}")
    order = params.get("order", "newest")
    if order not in ("newest", "oldest"):
        raise _bad_request(f"query parameter 'order' must be newest or oldest, got {order!r}")
    query = ApprovalFilter(
        states=_STATES[state],
        connector=params.get("connector") or None,
        tool=params.get("tool") or None,
        agent=params.get("agent") or None,
        limit=_limit(params.get("limit")) + 1,
        oldest_first=order == "oldest",
        after=_cursor(params.get("cursor")),
    )
    found = await service.list(query, principal)
    page = found[: query.limit - 1]
    more = len(found) > len(page)
    return {
        "approvals": [approval_json(s, service, principal, arguments=False) for s in page],
        "total": await service.count(query, principal),
        "next_cursor": _cursor_of(page[-1]) if more else None,
        "now": time.time(),
    }


def _cursor_of(stored: StoredApproval) -> str:
    return f"{stored.approval.requested_at!r}~{stored.approval.approval_id}"


def _cursor(raw: str | None) -> tuple[float, str] | None:
    """The keyset position a `next_cursor` names: (requested_at, approval_id)."""
    if raw is None:
        return None
    at, sep, approval_id = raw.partition("~")
    try:
        if not sep or not approval_id:
            raise ValueError
        return float(at), approval_id
    except ValueError:
        raise _bad_request(f"query parameter 'cursor' is not a cursor this API returned: {raw!r}") from None


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
