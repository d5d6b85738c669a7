"""Refused tokens cannot flood the audit log. The first failure of a (source, reason,
path) in a window is written at once; the rest of the window's are summed into one more
`auth.failed` record with a count and the first and last time, written when the window
ends. A source presenting too many refused tokens is answered 429 before any audit work."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import HTTPConnection

from gateway.guards.settings import AuthFailureSettings
from gateway.identity import AuthError
from gateway.ratelimit import Bucket, LocalBuckets

log = logging.getLogger(__name__)

#: Writes one audit record (kind, data).
Append = Callable[[str, dict[str, Any]], Awaitable[object]]


class AuthThrottled(AuthError):
    """This source presented too many refused tokens; answer 429 with Retry-After."""

    status = 429
    error = None  # not a token problem: RFC 6750 has no code for it

    def __init__(self, retry_after: float) -> None:
        super().__init__(f"too many failed authentications from this address; retry after {math.ceil(retry_after)} s")
        self.retry_after = retry_after


@dataclass(slots=True)
class _Tally:
    #: Failures after the window's first (which was recorded when it happened).
    count: int
    first: float
    last: float


class AuthFailures:
    """The gateway's recorder of refused tokens (the Authenticator's `on_failure`)."""

    def __init__(
        self,
        settings: AuthFailureSettings,
        append: Append,
        on_counted: Callable[[str], None] = lambda outcome: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._settings = settings
        self._append = append
        #: Told "aggregated" or "throttled" for each failure (the metric).
        self._on_counted = on_counted
        self._clock = clock
        self._buckets = LocalBuckets()
        self._tallies: dict[tuple[str, str, str], _Tally] = {}
        self._flusher: asyncio.Task[None] | None = None

    async def __call__(self, reason: str, conn: HTTPConnection) -> None:
        source = conn.client.host if conn.client else "unknown"
        s = self._settings
        refused = await self._buckets.take([Bucket(source, s.per_source_rate, s.per_source_burst)])
        if refused is not None:
            self._on_counted("throttled")
            raise AuthThrottled(refused[1])
        self._on_counted("aggregated")
        path, now = conn.url.path, self._clock()
        key = (source, reason, path)
        if key not in self._tallies and len(self._tallies) >= self._settings.max_keys:
            key = ("*", reason, "*")
        tally = self._tallies.get(key)
        if tally is not None:
            tally.count += 1
            tally.last = now
            return
        # The window's first: recorded now, so a lone failure is in the log at once.
        self._tallies[key] = _Tally(0, now, now)
        await self._append("auth.failed", {"reason": reason, "client": source, "path": path, "count": 1})

    def start(self) -> None:
        self._flusher = asyncio.create_task(self._flush_every_window(), name="auth-failures-flush")

    async def close(self) -> None:
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
        await self.flush()

    async def _flush_every_window(self) -> None:
        while True:
            await asyncio.sleep(self._settings.window_seconds)
            try:
                await self.flush()
            except Exception:
                # The tallies are kept for the next window; the audit log says why it failed.
                log.exception("could not record failed authentications")

    async def flush(self) -> None:
        """Write one record per key that failed again after its first in the window."""
        tallies, self._tallies = self._tallies, {}
        pending = [(key, t) for key, t in tallies.items() if t.count]
        while pending:
            (source, reason, path), t = pending[0]
            data = {"reason": reason, "client": source, "path": path, "count": t.count}
            try:
                await self._append("auth.failed", data | {"first": t.first, "last": t.last})
            except Exception:
                # Kept for the next window, with the not yet written ones.
                for key, unwritten in pending:
                    kept = self._tallies.setdefault(key, _Tally(0, unwritten.first, unwritten.last))
                    kept.count += unwritten.count
                    kept.first = min(kept.first, unwritten.first)
                raise
            pending.pop(0)
