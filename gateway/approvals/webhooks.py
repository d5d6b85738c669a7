"""Notifications of approval events to webhook targets, Slack-compatible.

`send` never blocks and never raises: each target has a bounded queue drained by its
own task, which retries failed deliveries with exponential backoff. A full queue drops
the event with a warning rather than slowing a call down.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx

from gateway.approvals.codec import approval_to_json
from gateway.config import ApprovalSettings, WebhookSettings, revealed
from gateway.models import Approval, ApprovalState

log = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 60.0
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


class WebhookNotifier:
    def __init__(self, settings: ApprovalSettings, client: httpx.AsyncClient | None = None) -> None:
        self._settings = settings
        self._client = client or httpx.AsyncClient(follow_redirects=False)
        self._queues = [asyncio.Queue[dict[str, Any]](maxsize=settings.webhook_queue_size) for _ in settings.webhooks]
        self._workers = [
            asyncio.create_task(self._deliver_all(target, queue), name=f"approval-webhook-{i}")
            for i, (target, queue) in enumerate(zip(settings.webhooks, self._queues, strict=True))
        ]

    def send(self, event: str, approval: Approval) -> None:
        body: dict[str, Any] | None = None
        for target, queue in zip(self._settings.webhooks, self._queues, strict=True):
            if event not in target.events:
                continue
            body = body or slack_message(event, approval, console_url=self._settings.console_url)
            try:
                queue.put_nowait(body)
            except asyncio.QueueFull:
                log.warning(
                    "approval webhook queue for %s is full; dropped %s of %s", target.url, event, approval.approval_id
                )

    async def close(self) -> None:
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        undelivered = sum(q.qsize() for q in self._queues)
        if undelivered:
            log.warning("%d approval webhook(s) not delivered at shutdown", undelivered)
        await self._client.aclose()

    async def _deliver_all(self, target: WebhookSettings, queue: asyncio.Queue[dict[str, Any]]) -> None:
        while True:
            body = await queue.get()
            await self._deliver(target, body)

    async def _deliver(self, target: WebhookSettings, body: dict[str, Any]) -> None:
        attempts = self._settings.webhook_attempts
        for attempt in range(1, attempts + 1):
            try:
                response = await self._client.post(
                    target.url, json=body, headers=revealed(target.headers), timeout=target.timeout_seconds
                )
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                if response.is_success:
                    return
                problem = f"HTTP {response.status_code}"
                # A 4xx other than 408/429 will not get better by asking again.
                if response.is_client_error and response.status_code not in (408, 429):
                    log.warning("approval webhook %s refused the event (%s); not retried", target.url, problem)
                    return
            if attempt == attempts:
                log.warning("approval webhook %s failed %d times (%s); event dropped", target.url, attempts, problem)
                return
            delay = min(self._settings.webhook_backoff_seconds * 2 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
            log.info("approval webhook %s failed (%s); retry %d in %.1fs", target.url, problem, attempt, delay)
            await asyncio.sleep(delay)
