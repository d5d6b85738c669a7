"""Delivery of approval notifications to one channel (Slack, Teams, e-mail), audited.

`send` never blocks and never raises: events wait in a bounded queue drained by the
channel's own task, in order, so a slow or dead channel never slows a call. Every attempt
leaves an audit record on the approval's call:

    notification.sent     delivered (details: what the channel answered, e.g. Slack's ts)
    notification.retried  an attempt failed; it is tried again after `retry_in` seconds
    notification.failed   given up (attempts spent, refused for good, or queue full)
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Mapping
from typing import Any, Protocol

from gateway.audit.kinds import RecordKind
from gateway.errors import GatewayError
from gateway.models import Approval

log = logging.getLogger(__name__)

_MAX_BACKOFF_SECONDS = 60.0


class DeliveryError(GatewayError):
    """A delivery that did not happen; `retryable` False when asking again cannot help."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class RecordSink(Protocol):
    """Where attempts are recorded: the audit log."""

    async def append(self, kind: str, data: dict[str, Any], call_id: str | None = None) -> Any: ...


class Channel(Protocol):
    #: "slack", "teams" or "email": the `channel` of the audit records.
    name: str
    #: Where it goes, without secrets (a Slack channel id, a host, recipients).
    target: str
    events: tuple[str, ...]

    async def deliver(self, event: str, approval: Approval) -> Mapping[str, Any]:
        """Deliver one event; return details worth auditing, or raise DeliveryError."""

    async def close(self) -> None: ...


class ChannelNotifier:
    def __init__(
        self, channel: Channel, audit: RecordSink, *, attempts: int, backoff_seconds: float, queue_size: int
    ) -> None:
        self._channel = channel
        self._audit = audit
        self._attempts = attempts
        self._backoff = backoff_seconds
        self._queue = asyncio.Queue[tuple[str, Approval]](maxsize=queue_size)
        self._worker = asyncio.create_task(self._run(), name=f"notify-{channel.name}")
        self._side_tasks: set[asyncio.Task[None]] = set()

    def send(self, event: str, approval: Approval) -> None:
        if event not in self._channel.events:
            return
        try:
            self._queue.put_nowait((event, approval))
        except asyncio.QueueFull:
            log.warning("%s notification queue is full; dropped %s", self._channel.name, approval.approval_id)
            task = asyncio.create_task(
                self._record(RecordKind.NOTIFICATION_FAILED, event, approval, attempt=0, error="queue full")
            )
            self._side_tasks.add(task)
            task.add_done_callback(self._side_tasks.discard)

    async def close(self) -> None:
        self._worker.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._worker
        await asyncio.gather(*self._side_tasks, return_exceptions=True)
        if self._queue.qsize():
            log.warning("%d %s notification(s) not delivered at shutdown", self._queue.qsize(), self._channel.name)
        await self._channel.close()

    async def _run(self) -> None:
        while True:
            event, approval = await self._queue.get()
            await self._deliver(event, approval)

    async def _deliver(self, event: str, approval: Approval) -> None:
        for attempt in range(1, self._attempts + 1):
            try:
                details = await self._channel.deliver(event, approval)
            except DeliveryError as exc:
                if not exc.retryable or attempt == self._attempts:
                    await self._record(RecordKind.NOTIFICATION_FAILED, event, approval, attempt=attempt, error=str(exc))
                    return
                delay = min(self._backoff * 2 ** (attempt - 1), _MAX_BACKOFF_SECONDS)
                await self._record(
                    RecordKind.NOTIFICATION_RETRIED, event, approval, attempt=attempt, error=str(exc), retry_in=delay
                )
                await asyncio.sleep(delay)
            except Exception as exc:
                # A bug in a channel must not kill the worker: the next event still goes out.
                log.exception("%s notification failed unexpectedly", self._channel.name)
                await self._record(
                    RecordKind.NOTIFICATION_FAILED,
                    event,
                    approval,
                    attempt=attempt,
                    error=f"{type(exc).__name__}: {exc}",
                )
                return
            else:
                await self._record(
                    RecordKind.NOTIFICATION_SENT, event, approval, attempt=attempt, details=dict(details)
                )
                return

    async def _record(self, kind: RecordKind, event: str, approval: Approval, **data: Any) -> None:
        record = {
            "approval_id": approval.approval_id,
            "channel": self._channel.name,
            "target": self._channel.target,
            "event": event,
            **data,
        }
        try:
            await self._audit.append(kind, record, call_id=approval.call_id)
        except Exception:
            log.warning("%s of %s not audited", kind, approval.approval_id, exc_info=True)
