"""Ship the audit log to one sink: in chain order, at least once, resumable.

The shipper reads records after its cursor from the audit store, checks that each one
chains onto the previous (so nothing is skipped or out of order), hands the batch to the
sink, and moves the cursor only once the sink acknowledged it. A sink that is down is
retried with backoff from the same record; a restart resumes after the last
acknowledged record. Shipping runs in its own task and reads through the store's reader
connection, so a slow or dead sink never holds up a tool call: it only grows the lag.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.audit.log import AuditLog
from gateway.audit.store import StoreError
from gateway.audit.streaming.cursor import CursorError, CursorFile, Position
from gateway.audit.streaming.sink import Sink, SinkError
from gateway.errors import GatewayError
from gateway.models import AuditRecord

log = logging.getLogger(__name__)


class ChainBroken(GatewayError):
    """The store does not continue the chain where the cursor stands: shipping stops."""


@dataclass(eq=False)
class Shipper:
    name: str
    sink: Sink
    audit: AuditLog
    cursor: CursorFile
    batch_size: int = field(kw_only=True)
    #: How long one delivery may take.
    timeout_seconds: float = field(kw_only=True)
    #: How often an idle shipper looks for new records.
    poll_seconds: float = field(kw_only=True)
    max_backoff_seconds: float = field(kw_only=True)
    position: Position = field(default=Position(0, ""), init=False)
    #: Time of the oldest record not yet acknowledged (None: caught up).
    oldest_unshipped: float | None = field(default=None, init=False)
    shipped: int = field(default=0, init=False)
    failures: int = field(default=0, init=False)
    up: bool = field(default=True, init=False)
    _task: asyncio.Task[None] | None = field(default=None, init=False)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"audit-sink-{self.name}")

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.sink.close()

    def lag(self) -> tuple[int, float]:
        """(records the sink has not acknowledged, seconds the oldest of them has waited)."""
        records = max(0, self.audit.head.size - self.position.seq)
        seconds = 0.0 if self.oldest_unshipped is None or not records else time.time() - self.oldest_unshipped
        return records, max(0.0, seconds)

    async def _run(self) -> None:
        """Ship until cancelled. A cursor that does not fit the log stops the sink (shipping
        from a guessed place would gap or repeat); reading the store may fail for a while
        (a database restart) and is retried."""
        try:
            self.position = await asyncio.to_thread(self.cursor.load)
            await self._check_resume()
        except (CursorError, ChainBroken, StoreError) as exc:
            self.up = False
            log.error("audit sink %s stopped: %s", self.name, exc)
            return
        while True:
            try:
                await self._step()
            except ChainBroken as exc:
                self.up = False
                log.error("audit sink %s stopped: %s", self.name, exc)
                return
            except Exception as exc:
                # The store may be unreachable for a while (a database restart): the
                # shipper must outlive it, not die with an unretrieved exception.
                self.failures += 1
                self.up = False
                log.warning("audit sink %s cannot read the audit log (%s); retrying", self.name, exc, exc_info=True)
                await asyncio.sleep(self.max_backoff_seconds)

    async def _check_resume(self) -> None:
        if self.position.seq == 0:
            return
        record = await self.audit.store.record(self.position.seq)
        if record is None or record.hash != self.position.hash:
            raise ChainBroken(
                f"cursor {self.cursor.path} points at record {self.position.seq} ({self.position.hash[:12]}),"
                " which this audit log does not have: is it another log? Move the cursor file away to start over"
            )

    async def _step(self) -> None:
        if self.audit.head.size <= self.position.seq:
            self.oldest_unshipped = None
            await asyncio.sleep(self.poll_seconds)
            return
        batch = await self.audit.store.records(self.position.seq, self.batch_size)
        if not batch:
            await asyncio.sleep(self.poll_seconds)
            return
        self._check_chain(batch)
        self.oldest_unshipped = batch[0].ts
        backoff = self.poll_seconds
        while True:
            try:
                await asyncio.wait_for(self.sink.ship(batch), self.timeout_seconds)
                break
            except (SinkError, TimeoutError) as exc:
                self.failures += 1
                self.up = False
                log.warning("audit sink %s: %s; retrying in %.1f s", self.name, str(exc) or "timed out", backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
        acknowledged = Position(batch[-1].seq, batch[-1].hash)
        await asyncio.to_thread(self.cursor.save, acknowledged)
        self.position = acknowledged
        self.shipped += len(batch)
        self.up = True

    def _check_chain(self, batch: Sequence[AuditRecord]) -> None:
        expected_seq, expected_prev = self.position.seq + 1, self.position.hash
        for record in batch:
            if record.seq != expected_seq or record.prev_hash != expected_prev:
                raise ChainBroken(
                    f"record {record.seq} does not follow record {expected_seq - 1} in the chain; shipping stopped"
                )
            expected_seq, expected_prev = record.seq + 1, record.hash
