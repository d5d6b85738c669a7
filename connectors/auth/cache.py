"""Issued tokens kept until shortly before they expire: one per key (a caller, or the
gateway itself), at most `size` of them (least recently used dropped first), and at most
one request to the identity provider in flight per key however many calls wait for it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass

from cachetools import LRUCache

from connectors.auth.token_endpoint import IssuedToken


@dataclass(frozen=True, slots=True)
class _Entry:
    token: IssuedToken
    renew_at: float


class TokenCache:
    def __init__(self, size: int, refresh_before_seconds: float, clock: Callable[[], float] = time.time) -> None:
        self._refresh_before = refresh_before_seconds
        self._clock = clock
        self._entries: LRUCache[Hashable, _Entry] = LRUCache(size)
        self._flights: dict[Hashable, asyncio.Future[IssuedToken]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[IssuedToken]]) -> IssuedToken:
        entry = self._entries.get(key)
        if entry is not None and self._clock() < entry.renew_at:
            return entry.token
        flight = self._flights.get(key)
        if flight is None:
            flight = asyncio.ensure_future(self._fetch(key, fetch))
            # A failure nobody waits for any more (all waiters cancelled) is not an error.
            flight.add_done_callback(lambda f: f.cancelled() or f.exception())
            self._flights[key] = flight
        # A waiter that gives up (its deadline) does not cancel the request others wait for.
        return await asyncio.shield(flight)

    async def _fetch(self, key: Hashable, fetch: Callable[[], Awaitable[IssuedToken]]) -> IssuedToken:
        try:
            token = await fetch()
            now = self._clock()
            # Renew `refresh_before` early, but never in the first half of a short life.
            margin = min(self._refresh_before, max(token.expires_at - now, 0.0) / 2)
            self._entries[key] = _Entry(token, token.expires_at - margin)
            return token
        finally:
            del self._flights[key]

    def drop(self, value: str | None) -> None:
        """Forget the token `value` wherever it is kept (the backend refused it; a scan, as
        that is rare and the refusing call does not know whose token it was)."""
        for key in [k for k, e in self._entries.items() if e.token.value == value]:
            del self._entries[key]
