"""RFC 9457 problem details: the one error shape of the REST front door."""

from __future__ import annotations

import math
from http import HTTPStatus
from typing import Any

from starlette.responses import JSONResponse

from gateway.auth_gate import challenge
from gateway.errors import ApprovalPending, CallRefused, RateLimited
from gateway.identity import AuthError
from gateway.rest.prefer import CALLS_PATH

PROBLEM_MEDIA_TYPE = "application/problem+json"
#: Problem types are URNs: stable identifiers a client can switch on, not pages to fetch.
TYPE_PREFIX = "urn:agent-gateway:problem:"


class Problem(Exception):
    """A request the REST front door refuses before (or instead of) running the pipeline."""

    def __init__(self, status: int, kind: str, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = headers or {}


def problem_response(
    status: int, kind: str, detail: str, *, headers: dict[str, str] | None = None, **extensions: Any
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": TYPE_PREFIX + kind,
        "title": HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        **{k: v for k, v in extensions.items() if v is not None},
    }
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def from_problem(problem: Problem) -> JSONResponse:
    return problem_response(problem.status, problem.kind, problem.detail, headers=problem.headers)


def from_refusal(refusal: CallRefused, call_id: str) -> JSONResponse:
    headers = None
    approval_id = None
    if isinstance(refusal, RateLimited):
        # Whole seconds (RFC 9110), rounded up so a prompt retry finds a token.
        headers = {"Retry-After": str(max(1, math.ceil(refusal.retry_after)))}
    if isinstance(refusal, ApprovalPending):
        approval_id = refusal.approval_id
        headers = {"Location": f"{CALLS_PATH}/{approval_id}"}
    return problem_response(
        refusal.status, refusal.outcome, refusal.message, headers=headers, call_id=call_id, approval_id=approval_id
    )


def unauthorized_problem(exc: AuthError) -> JSONResponse:
    kind = "insufficient-scope" if exc.status == 403 else "unauthenticated"
    return problem_response(exc.status, kind, str(exc), headers={"WWW-Authenticate": challenge(exc)})
