"""Human approval of held calls: a persisted state machine, waiting without polling,
expiry, webhooks, the REST API and the web console."""

from __future__ import annotations

from gateway.approvals.call_status import CallStatus
from gateway.approvals.errors import ApprovalError
from gateway.approvals.service import ApprovalService, AuditSink, HoldOutcome
from gateway.approvals.store import ApprovalFilter
from gateway.config import ApprovalSettings

__all__ = [
    "ApprovalError",
    "ApprovalFilter",
    "ApprovalService",
    "ApprovalSettings",
    "AuditSink",
    "CallStatus",
    "HoldOutcome",
]
