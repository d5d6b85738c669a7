"""Records whose writing must not hold up an answer: a refused token is answered 401
promptly, whatever state the audit store is in. The answer waits a moment for the record
(a healthy store commits well within it), then leaves it to finish in the background;
when the store cannot take it (down, locked past its busy timeout, or too many already
waiting) it is counted instead, so a flood or an outage is still visible."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from gateway.errors import AuditUnavailable, StoreError

log = logging.getLogger(__name__)

Append = Callable[[str, Mapping[str, Any]], Awaitable[Any]]


class DeferredRecords:
    def __init__(
        self, append: Append, on_lost: Callable[[str], None], *, patience: float = 0.25, limit: int = 1000
    ) -> None:
        self._append = append
        self._on_lost = on_lost
        self._patience = patience
        self._limit = limit
        self._pending: set[asyncio.Task[None]] = set()

    async def record(self, kind: str, data: Mapping[str, Any]) -> None:
        """Waits at most `patience` seconds, never raises."""
        if len(self._pending) >= self._limit:
            self._on_lost(kind)
            return
        task = asyncio.create_task(self._write(kind, data))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
        await asyncio.wait({task}, timeout=self._patience)

    async def _write(self, kind: str, data: Mapping[str, Any]) -> None:
        try:
            await self._append(kind, data)
        except (AuditUnavailable, StoreError) as exc:
            log.warning("audit record %s not written: %s", kind, exc)
            self._on_lost(kind)

    async def drain(self) -> None:
        """Wait for the records on their way (at shutdown, before the log closes)."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
