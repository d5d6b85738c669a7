"""Approval cards in Microsoft Teams: an Adaptive Card posted to a Teams workflow
("When a Teams webhook request is received"), with a button to the console."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import httpx

from gateway.config.secrets import url_target
from gateway.integrations.delivery import DeliveryError
from gateway.integrations.settings import TeamsSettings
from gateway.integrations.slack_blocks import console_link
from gateway.models import Approval, ApprovalState

_HEADLINES = {
    "requested": "Approval needed",
    "voted": "Vote received",
    "decided": "Approval decided",
    "expired": "Approval expired",
}


def adaptive_card(event: str, approval: Approval, console_url: str | None) -> dict[str, Any]:
    """The workflow's request body: a message with one Adaptive Card (schema 1.4)."""
    call = f"{approval.connector}.{approval.tool}"
    facts = [
        {"title": "Call", "value": call},
        {"title": "Agent", "value": approval.principal.subject},
        {"title": "Rule", "value": approval.rule or "default"},
        {"title": "State", "value": approval.state.value},
        {"title": "Approvals", "value": f"{sum(v.approve for v in approval.votes)} of {approval.approvals_required}"},
        {"title": "Expires", "value": _iso(approval.expires_at)},
    ]
    facts += [
        {"title": "Approved by" if v.approve else "Denied by", "value": f"{v.approver}: {v.comment}".rstrip(": ")}
        for v in approval.votes
    ]
    body: list[dict[str, Any]] = [
        {"type": "TextBlock", "size": "Medium", "weight": "Bolder", "text": f"{_HEADLINES[event]}: {call}"},
        {"type": "FactSet", "facts": facts},
    ]
    link = console_link(console_url, approval.approval_id)
    actions = []
    if link:
        title = "Approve or deny in the console" if approval.state is ApprovalState.PENDING else "Open in the console"
        actions.append({"type": "Action.OpenUrl", "title": title, "url": link})
    card = {
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "type": "AdaptiveCard",
        "version": "1.4",
        "body": body,
        "actions": actions,
    }
    return {
        "type": "message",
        "attachments": [
            {"contentType": "application/vnd.microsoft.card.adaptive", "contentUrl": None, "content": card}
        ],
    }


def _iso(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class TeamsChannel:
    name = "teams"

    def __init__(self, settings: TeamsSettings, console_url: str | None) -> None:
        # The workflow URL carries its own signature: only its host is shown in the audit.
        self.target = url_target(settings.webhook_url)
        self.events: tuple[str, ...] = settings.events
        self._settings = settings
        self._console_url = console_url
        self._client = httpx.AsyncClient(timeout=settings.timeout_seconds, follow_redirects=False)

    async def deliver(self, event: str, approval: Approval) -> Mapping[str, Any]:
        try:
            response = await self._client.post(
                self._settings.webhook_url.get_secret_value(), json=adaptive_card(event, approval, self._console_url)
            )
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None
        if not response.is_success:
            retryable = response.status_code in (408, 429) or response.is_server_error
            raise DeliveryError(f"HTTP {response.status_code}", retryable=retryable)
        return {"status": response.status_code}

    async def close(self) -> None:
        await self._client.aclose()
