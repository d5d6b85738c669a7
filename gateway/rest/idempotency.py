"""`Idempotency-Key`: a retried request gets the first answer instead of a second call.

Answers are kept per (caller, key) in process memory, least recently used first out,
for a bounded time: enough for an agent's retry loop, not across restarts or replicas.
A key reused with another request is refused (422); a retry while the first request is
still running is refused (409), following draft-ietf-httpapi-idempotency-key-header.
A replay is admitted like a new request first (`recheck`): the caller's token was verified
again by the front door, and the policy in force decides it before the stored answer is
returned.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from gateway.errors import Problem

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255


@dataclass(frozen=True, slots=True)
class StoredResponse:
    status: int
    body: bytes
    media_type: str
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class _Entry:
    digest: str
    created: float
    response: StoredResponse | None = None  # None while the first request runs


Owner = tuple[str | None, str, str | None]


def check_key(key: str) -> str:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise Problem(
            400, "invalid_idempotency_key", f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"
        )
    return key


class IdempotencyStore:
    def __init__(self, capacity: int = 10_000, ttl_seconds: float = 24 * 3600.0) -> None:
        self.capacity = capacity
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[tuple[Owner, str], _Entry] = OrderedDict()

    async def run_once(
        self,
        owner: Owner,
        key: str,
        digest: str,
        produce: Callable[[], Awaitable[StoredResponse]],
        keep: Callable[[StoredResponse], bool],
        recheck: Callable[[StoredResponse], Awaitable[StoredResponse | None]],
    ) -> tuple[StoredResponse, bool]:
        """(response, replayed): the stored answer for this key, or `produce()`'s, kept if
        `keep` says so. Before a stored answer is replayed, `recheck(stored)` may refuse it
        by returning the refusal to answer instead."""
        slot = (owner, key)
        entry = self._entries.get(slot)
        if entry is not None and time.monotonic() - entry.created > self.ttl_seconds:
            del self._entries[slot]
            entry = None
        if entry is not None:
            if entry.digest != digest:
                raise Problem(422, "idempotency_key_reused", f"{HEADER} {key!r} was already used for another request")
            if entry.response is None:
                raise Problem(
                    409,
                    "idempotency_key_in_use",
                    f"a request with {HEADER} {key!r} is still running; retry later",
                    headers={"Retry-After": "1"},
                )
            self._entries.move_to_end(slot)
            refusal = await recheck(entry.response)
            if refusal is not None:
                return refusal, False
            return entry.response, True
        entry = _Entry(digest, time.monotonic())
        self._entries[slot] = entry
        self._evict()
        try:
            response = await produce()
        except BaseException:
            self._entries.pop(slot, None)
            raise
        if keep(response):
            entry.response = response
        else:
            self._entries.pop(slot, None)
        return response, False

    def _evict(self) -> None:
        # Running requests are never evicted: their retries must still see "in use".
        for slot in list(self._entries):
            if len(self._entries) <= self.capacity:
                return
            if self._entries[slot].response is not None:
                del self._entries[slot]
