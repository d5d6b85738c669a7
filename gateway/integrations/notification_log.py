"""Reading back an approval's notifications from the audit log, where delivery wrote them
(`notification.sent|retried|failed` records on the approval's call)."""

from __future__ import annotations

from typing import Any, Protocol

from gateway.models import AuditRecord

NOTIFICATION_KINDS = ("notification.sent", "notification.retried", "notification.failed")


class CallRecords(Protocol):
    async def call_records(self, call_ids: list[str]) -> list[AuditRecord]: ...


async def notifications(store: CallRecords, call_id: str, approval_id: str) -> list[dict[str, Any]]:
    """Every notification attempt for the approval, oldest first, as shown to approvers."""
    records = await store.call_records([call_id])
    return [
        {"seq": r.seq, "at": r.ts, "outcome": r.kind.removeprefix("notification."), **r.data}
        for r in records
        if r.kind in NOTIFICATION_KINDS and r.data.get("approval_id") == approval_id
    ]


async def slack_message(store: CallRecords, call_id: str, approval_id: str) -> tuple[str, str] | None:
    """(channel, ts) of the Slack message posted for the approval, if one was."""
    for sent in await notifications(store, call_id, approval_id):
        details = sent.get("details") or {}
        if sent["outcome"] == "sent" and sent["channel"] == "slack" and "ts" in details:
            return str(details["channel"]), str(details["ts"])
    return None
