"""Block Kit for held calls: the approval message (summary, Approve / Deny while pending,
the outcome once decided) and the modal that asks a denier why."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from gateway.approvals.machine import approvals_count
from gateway.models import Approval, ApprovalState

APPROVE_ACTION = "approve"
DENY_ACTION = "deny"
DENY_CALLBACK = "approval_deny"
COMMENT_BLOCK = "comment"
COMMENT_ACTION = "comment_input"
_MAX_VALUE = 200
_OUTCOME = {
    ApprovalState.APPROVED: ":white_check_mark: Approved",
    ApprovalState.DENIED: ":no_entry: Denied",
    ApprovalState.EXPIRED: ":hourglass: Expired without a decision",
}


def console_link(console_url: str | None, approval_id: str) -> str | None:
    return f"{console_url.rstrip('/')}/console#/approvals/{approval_id}" if console_url else None


def _escape(text: str) -> str:
    """Slack mrkdwn treats &, < and > as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    return _escape(text if len(text) <= _MAX_VALUE else text[: _MAX_VALUE - 1] + "…")


def approval_message(
    approval: Approval, arguments: Mapping[str, Any], reason: str | None, console_url: str | None
) -> dict[str, Any]:
    """`text` and `blocks` of the approval's message; `arguments` are the ones to show,
    already redacted; `reason` is the policy's, for holding the call."""
    call = f"{approval.connector}.{approval.tool}"
    fields = [
        f"*Agent*\n{_escape(approval.principal.subject)}",
        f"*Rule*\n`{_escape(approval.rule or 'default')}`",
        f"*Approvals*\n{approvals_count(approval)} of {approval.approvals_required}"
        + (f" ({_escape(approval.approver_role)})" if approval.approver_role else ""),
        f"*Expires*\n<!date^{int(approval.expires_at)}^{{date_short_pretty}} {{time}}|{int(approval.expires_at)}>",
    ]
    summary: dict[str, Any] = {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]}
    if reason:
        summary["text"] = {"type": "mrkdwn", "text": _escape(reason)[:3000]}
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": f"Approval needed: {call}"[:150]}},
        summary,
    ]
    if arguments:
        lines = "\n".join(f"*{_escape(k)}*: `{_shown(v)}`" for k, v in arguments.items())
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": lines}})
    votes = [
        f"{'Approved' if v.approve else 'Denied'} by {_escape(v.approver)}"
        + (f": {_escape(v.comment)}" if v.comment else "")
        for v in approval.votes
    ]
    if votes:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": "\n".join(votes)}]})
    blocks.append(_actions(approval, console_link(console_url, approval.approval_id)))
    text = f"Approval {approval.approval_id}: {call} requested by {approval.principal.subject}"
    if approval.state is not ApprovalState.PENDING:
        text += f" ({approval.state.value})"
    return {"text": text, "blocks": blocks}


def _actions(approval: Approval, link: str | None) -> dict[str, Any]:
    if approval.state is not ApprovalState.PENDING:
        outcome = f"*{_OUTCOME[approval.state]}*" + (f" · <{link}|Open in the console>" if link else "")
        return {"type": "section", "text": {"type": "mrkdwn", "text": outcome}}
    buttons: list[dict[str, Any]] = [
        {
            "type": "button",
            "action_id": APPROVE_ACTION,
            "style": "primary",
            "text": {"type": "plain_text", "text": "Approve"},
            "value": approval.approval_id,
        },
        {
            "type": "button",
            "action_id": DENY_ACTION,
            "style": "danger",
            "text": {"type": "plain_text", "text": "Deny"},
            "value": approval.approval_id,
        },
    ]
    if link:
        buttons.append(
            {
                "type": "button",
                "action_id": "open_console",
                "text": {"type": "plain_text", "text": "Open in console"},
                "url": link,
            }
        )
    return {"type": "actions", "block_id": "approval_actions", "elements": buttons}


def deny_modal(approval_id: str, channel: str | None, ts: str | None) -> dict[str, Any]:
    """The modal a Deny click opens: the comment is required, as on every other channel."""
    return {
        "type": "modal",
        "callback_id": DENY_CALLBACK,
        "private_metadata": json.dumps({"approval_id": approval_id, "channel": channel, "ts": ts}),
        "title": {"type": "plain_text", "text": "Deny the call"},
        "submit": {"type": "plain_text", "text": "Deny"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": [
            {
                "type": "input",
                "block_id": COMMENT_BLOCK,
                "label": {"type": "plain_text", "text": "Why? The agent receives this as the reason."},
                "element": {
                    "type": "plain_text_input",
                    "action_id": COMMENT_ACTION,
                    "multiline": True,
                    "max_length": 2000,
                },
            }
        ],
    }
