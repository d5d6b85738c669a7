"""Reading back an approval's notifications from the audit log, where delivery wrote them
(`notification.sent|retried|failed` records on the approval's call)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from gateway.audit.kinds import RecordKind
from gateway.models import AuditRecord

NOTIFICATION_KINDS = (RecordKind.NOTIFICATION_SENT, RecordKind.NOTIFICATION_RETRIED, RecordKind.NOTIFICATION_FAILED)


class CallRecords(Protocol):
    async def call_records(self, call_ids: list[str]) -> list[AuditRecord]: ...


async def notifications(store: CallRecords, call_id: str, approval_id: str) -> list[dict[str, Any]]:
    """Every notification attempt for the approval, oldest first, as shown to approvers."""
    return _attempts(await store.call_records([call_id]), approval_id)


def _attempts(records: list[AuditRecord], approval_id: str) -> list[dict[str, Any]]:
    return [
        {"seq": r.seq, "at": r.ts, "outcome": r.kind.removeprefix("notification."), **r.data}
        for r in records
        if r.kind in NOTIFICATION_KINDS and r.data.get("approval_id") == approval_id
    ]


@dataclass(frozen=True, slots=True)
class SlackContext:
    #: The policy's reason for holding the call (its `call.decided` record).
    reason: str | None
    #: (channel, ts) of the message posted for the approval, if one was.
    message: tuple[str, str] | None


async def slack_context(store: CallRecords, call_id: str, approval_id: str) -> SlackContext:
    """What the Slack message needs from the log, in one read of the call's records."""
    records = await store.call_records([call_id])
    reason = next((r.data.get("reason") for r in records if r.kind == RecordKind.CALL_DECIDED), None)
    for sent in _attempts(records, approval_id):
        details = sent.get("details") or {}
        if sent["outcome"] == "sent" and sent["channel"] == "slack" and "ts" in details:
            return SlackContext(reason, (str(details["channel"]), str(details["ts"])))
    return SlackContext(reason if isinstance(reason, str) else None, None)
