"""How the REST front door words a refused call: the refusal's problem document, with the
call id, and Retry-After or the held call's Location where they apply."""

from __future__ import annotations

import math

from starlette.responses import JSONResponse

from gateway.errors import ApprovalPending, CallRefused, RateLimited
from gateway.problems import problem_response
from gateway.rest.prefer import CALLS_PATH


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
