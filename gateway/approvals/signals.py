"""In-process wake-ups for held calls: one asyncio.Event per approval somebody waits on.

A waiter takes the event *before* reading the approval, so a change committed after the
read always sets it; nothing polls. A multi-replica store (PostgreSQL LISTEN/NOTIFY)
calls `notify` from its listener for changes made on other replicas.
"""

from __future__ import annotations

import asyncio
import contextlib


class Signals:
    def __init__(self) -> None:
        # Popped on notify: the table holds only approvals that are being waited on and
        # have not changed since, so it is bounded by the pending approvals.
        self._events: dict[str, asyncio.Event] = {}
        #: Set by every notification, watched or not: wakes the expiry sweeper, which also
        #: recounts the pending approvals.
        self.changed = asyncio.Event()

    def watch(self, key: str) -> asyncio.Event:
        return self._events.setdefault(key, asyncio.Event())

    def notify(self, key: str) -> None:
        event = self._events.pop(key, None)
        if event is not None:
            event.set()
        self.changed.set()

    def notify_all(self) -> None:
        """Wake every waiter (after wake-ups may have been missed, e.g. a lost listener)."""
        events, self._events = self._events, {}
        for event in events.values():
            event.set()
        self.changed.set()

    def __len__(self) -> int:
        return len(self._events)


async def wait_for_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until `event` is set or `seconds` pass. Unlike `asyncio.wait_for` on Python
    3.11, a cancellation arriving as the event is set is never swallowed."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, seconds)):
            await event.wait()
