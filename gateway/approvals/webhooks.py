"""Notifications of approval events to webhook targets, Slack-compatible.

Each target is a channel of gateway/integrations/delivery.py: a bounded queue drained by
its own task (never slowing a call), retries with exponential backoff, and every attempt
audited (notification.sent / retried / failed).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from gateway.approvals.codec import approval_to_json
from gateway.config import ApprovalSettings, WebhookSettings, revealed, url_target
from gateway.integrations.delivery import ChannelNotifier, DeliveryError, RecordSink
from gateway.models import Approval, ApprovalState

_VERBS = {
    "requested": "needs approval",
    "voted": "received a vote",
    "decided": "was decided",
    "expired": "expired without a decision",
}


def slack_message(event: str, approval: Approval, *, console_url: str | None) -> dict[str, Any]:
    """A Slack incoming-webhook body: `text` and `blocks` for people, `metadata` for machines."""
    who = approval.principal.subject
    call = f"{approval.connector}.{approval.tool}"
    headline = f"Approval {approval.approval_id}: {call} requested by {who} {_VERBS[event]}"
    if approval.state is not ApprovalState.PENDING:
        headline += f" ({approval.state.value})"
    approvals = sum(1 for v in approval.votes if v.approve)
    details = [
        f"*Rule*: `{approval.rule or 'default'}` (policy {approval.policy_version})",
        f"*Approvals*: {approvals} of {approval.approvals_required}"
        + (f", role `{approval.approver_role}`" if approval.approver_role else ""),
    ]
    details += [f"*{'Approved' if v.approve else 'Denied'} by* {v.approver}: {v.comment}" for v in approval.votes]
    if console_url:
        details.append(f"<{console_url.rstrip('/')}/console#/approvals/{approval.approval_id}|Open in the console>")
    return {
        "text": headline,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": headline}},
            {"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(details)}},
        ],
        "metadata": {
            "event_type": f"approval_{event}",
            "event_payload": approval_to_json(approval, arguments=False),
        },
    }


class WebhookChannel:
    """One webhook target, delivered (queued, retried, audited) by a ChannelNotifier."""

    name = "webhook"

    def __init__(self, target: WebhookSettings, console_url: str | None) -> None:
        # Webhook URLs often carry their secret in the path: only the host is shown.
        self.target = url_target(target.url)
        self.events: tuple[str, ...] = target.events
        self._settings = target
        self._console_url = console_url
        self._client = httpx.AsyncClient(follow_redirects=False)

    async def deliver(self, event: str, approval: Approval) -> Mapping[str, Any]:
        body = slack_message(event, approval, console_url=self._console_url)
        target = self._settings
        try:
            response = await self._client.post(
                target.url.get_secret_value(),
                json=body,
                headers=revealed(target.headers),
                timeout=target.timeout_seconds,
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if not response.is_success:
            # A 4xx other than 408/429 will not get better by asking again.
            retryable = response.is_server_error or response.status_code in (408, 429)
            raise DeliveryError(f"HTTP {response.status_code}", retryable=retryable)
        return {"status": response.status_code}

    async def close(self) -> None:
        await self._client.aclose()


def webhook_notifiers(settings: ApprovalSettings, audit: RecordSink) -> list[ChannelNotifier]:
    return [
        ChannelNotifier(
            WebhookChannel(target, settings.console_url),
            audit,
            attempts=settings.webhook_attempts,
            backoff_seconds=settings.webhook_backoff_seconds,
            queue_size=settings.webhook_queue_size,
        )
        for target in settings.webhooks
    ]
