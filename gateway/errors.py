"""Why a call was refused before or instead of reaching a backend.

Front doors turn these into their own error shapes (an MCP `isError` result or JSON-RPC
error, an RFC 9457 problem); the message is always safe to show to the agent.
"""

from __future__ import annotations


class CallRefused(Exception):
    #: HTTP status the REST front door answers with; also the metric's outcome label.
    status: int = 400
    outcome: str = "refused"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class UnknownTool(CallRefused):
    status = 404
    outcome = "unknown_tool"


class InvalidArguments(CallRefused):
    status = 422
    outcome = "invalid_arguments"


class PolicyDenied(CallRefused):
    status = 403
    outcome = "denied"


class AgentSuspended(CallRefused):
    """The agent, its application, its tenant or everything is suspended (kill switch)."""

    status = 403
    outcome = "suspended"


class ApprovalRequired(CallRefused):
    status = 403
    outcome = "approval_required"


class BackendFailed(CallRefused):
    status = 502
    outcome = "backend_error"


class BackendTimedOut(CallRefused):
    status = 504
    outcome = "backend_timeout"


class AuditUnavailableError(CallRefused):
    status = 503
    outcome = "audit_unavailable"


class RateLimited(CallRefused):
    status = 429
    outcome = "rate_limited"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        #: Seconds until the call would be admitted (the REST front door's Retry-After).
        self.retry_after = retry_after


class BackendBusy(RateLimited):
    """The backend's slots and waiting room are full: refused at once, to be retried."""

    status = 503
    outcome = "backend_busy"


class RateLimitUnavailable(CallRefused):
    status = 503
    outcome = "rate_limit_unavailable"


class ApprovalPending(CallRefused):
    """Held for approval longer than the call may wait: the agent retries to learn the outcome."""

    status = 202
    outcome = "approval_pending"

    def __init__(self, message: str, approval_id: str) -> None:
        super().__init__(message)
        #: What the agent asks about (`gateway.approval_status`, `GET /v1/calls/{id}`).
        self.approval_id = approval_id


class ApprovalDenied(CallRefused):
    status = 403
    outcome = "approval_denied"


class ApprovalExpired(ApprovalDenied):
    outcome = "approval_expired"
