"""The approval state machine: pure functions from an approval and an event to the next
approval. No I/O, so every rule (quorum, self-approval, roles, one deny ends it) is
checked in one place and tested without a database."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from gateway.approvals.errors import ApprovalError
from gateway.models import Approval, ApprovalState, ApprovalVote, Principal


def approvals_count(approval: Approval) -> int:
    return sum(1 for v in approval.votes if v.approve)


def required_roles(approval: Approval, default_roles: Iterable[str]) -> tuple[str, ...]:
    """The roles one of which a voter must hold: the rule's role, else the configured ones."""
    return (approval.approver_role,) if approval.approver_role else tuple(default_roles)


def is_self_approval(approval: Approval, approver: Principal) -> bool:
    # Issuers are deliberately ignored: the same subject name from another issuer is
    # still refused, because refusing a legitimate vote is cheap and the opposite is not.
    return approver.subject == approval.principal.subject


def apply_vote(
    approval: Approval,
    approver: Principal,
    approve: bool,
    comment: str,
    *,
    now: float,
    default_roles: Iterable[str],
) -> Approval:
    """The approval after `approver` voted, or ApprovalError saying why the vote is refused."""
    if approval.state is not ApprovalState.PENDING:
        raise ApprovalError("conflict", f"approval {approval.approval_id} is already {approval.state.value}")
    if now >= approval.expires_at:
        raise ApprovalError("conflict", f"approval {approval.approval_id} has expired")
    if is_self_approval(approval, approver):
        raise ApprovalError("forbidden", f"{approver.subject} requested this call and cannot vote on its own approval")
    roles = required_roles(approval, default_roles)
    if not set(roles) & set(approver.roles):
        raise ApprovalError(
            "forbidden", f"{approver.subject} lacks the approver role ({' or '.join(roles)}) this approval needs"
        )
    if any(v.approver == approver.subject for v in approval.votes):
        raise ApprovalError(
            "conflict", f"{approver.subject} already voted on approval {approval.approval_id}; a vote counts once"
        )
    if not approve and not comment.strip():
        raise ApprovalError("invalid", "a deny needs a comment saying why; the agent receives it as the reason")
    votes = (*approval.votes, ApprovalVote(approver=approver.subject, approve=approve, comment=comment, at=now))
    voted = dataclasses.replace(approval, votes=votes)
    if not approve:
        return dataclasses.replace(voted, state=ApprovalState.DENIED)
    if approvals_count(voted) >= max(1, approval.approvals_required):
        return dataclasses.replace(voted, state=ApprovalState.APPROVED)
    return voted


def expire(approval: Approval, *, now: float) -> Approval | None:
    """The expired approval, or None when it is decided or not yet due."""
    if approval.state is not ApprovalState.PENDING or now < approval.expires_at:
        return None
    return dataclasses.replace(approval, state=ApprovalState.EXPIRED)


def deny_by_gateway(approval: Approval, denier: str, reason: str, *, now: float) -> Approval | None:
    """The approval denied by the gateway itself (its agent was suspended), recorded as a
    vote of `denier` so the agent is told why; None when it is no longer pending."""
    if approval.state is not ApprovalState.PENDING:
        return None
    votes = (*approval.votes, ApprovalVote(approver=denier, approve=False, comment=reason, at=now))
    return dataclasses.replace(approval, votes=votes, state=ApprovalState.DENIED)


def deny_reason(approval: Approval) -> str:
    """What the agent is told when its call was denied."""
    denials = [v for v in approval.votes if not v.approve]
    if approval.state is ApprovalState.EXPIRED:
        return f"approval {approval.approval_id} expired without a decision"
    if not denials:
        return f"approval {approval.approval_id} was denied"
    return "; ".join(f"denied by {v.approver}: {v.comment}" for v in denials)
