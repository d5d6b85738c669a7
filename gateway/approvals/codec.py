"""Plain-JSON forms of the data an approval stores: the requesting principal and the
single execution's result. The API, the store and the webhooks share them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.models import Approval, ApprovalVote, Principal, ToolResult


def principal_to_json(principal: Principal) -> dict[str, Any]:
    # Claims are left out on purpose: they may carry token material nobody needs later.
    return {
        "subject": principal.subject,
        "roles": list(principal.roles),
        "tenant": principal.tenant,
        "issuer": principal.issuer,
        "client": principal.client,
        "actors": list(principal.actors),
        "scopes": list(principal.scopes),
    }


def principal_from_json(data: Mapping[str, Any]) -> Principal:
    return Principal(
        subject=data["subject"],
        roles=tuple(data.get("roles", ())),
        tenant=data.get("tenant"),
        issuer=data.get("issuer"),
        client=data.get("client"),
        actors=tuple(data.get("actors", ())),
        scopes=tuple(data.get("scopes", ())),
    )


def voter_to_json(vote: ApprovalVote) -> dict[str, Any]:
    """The stored form of who cast a vote, beside its subject."""
    return {"issuer": vote.issuer, "tenant": vote.tenant, "roles": list(vote.roles)}


def vote_from_row(approver: str, approve: Any, comment: str, at: float, voter: str | None) -> ApprovalVote:
    # Votes cast before voters were recorded carry no roles: they satisfy no rule at execution.
    who = json.loads(voter) if voter else {}
    return ApprovalVote(
        approver=approver,
        approve=bool(approve),
        comment=comment,
        at=at,
        issuer=who.get("issuer"),
        tenant=who.get("tenant"),
        roles=tuple(who.get("roles", ())),
    )


def vote_to_json(vote: ApprovalVote) -> dict[str, Any]:
    return {
        "approver": vote.approver,
        "approve": vote.approve,
        "comment": vote.comment,
        "at": vote.at,
        **voter_to_json(vote),
    }


def result_to_json(result: ToolResult) -> dict[str, Any]:
    return {
        "content": [dict(block) for block in result.content],
        "is_error": result.is_error,
        "structured": dict(result.structured) if result.structured is not None else None,
    }


def result_from_json(data: Mapping[str, Any]) -> ToolResult:
    return ToolResult(
        content=tuple(data["content"]),
        is_error=bool(data["is_error"]),
        structured=data.get("structured"),
    )


def approval_to_json(
    approval: Approval, *, decided_at: float | None = None, execution: str | None = None, arguments: bool = True
) -> dict[str, Any]:
    """The approval as the API, the console and the webhooks show it. Webhooks leave the
    arguments out: they may be sensitive and a chat channel is no place for them."""
    data: dict[str, Any] = {
        "approval_id": approval.approval_id,
        "call_id": approval.call_id,
        "state": approval.state.value,
        "requester": principal_to_json(approval.principal),
        "connector": approval.connector,
        "tool": approval.tool,
        "arguments_digest": approval.arguments_digest,
        "rule": approval.rule,
        "policy_version": approval.policy_version,
        "approvals_required": approval.approvals_required,
        "approvals": sum(1 for v in approval.votes if v.approve),
        "approver_role": approval.approver_role,
        "requested_at": approval.requested_at,
        "expires_at": approval.expires_at,
        "decided_at": decided_at,
        "rule_reason": approval.reason,
        "votes": [vote_to_json(v) for v in approval.votes],
    }
    if execution is not None:
        data["execution"] = execution
    if arguments:
        data["arguments"] = dict(approval.arguments)
    return data
