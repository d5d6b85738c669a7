"""The token cache on its own, with a hand-driven clock: when a token is renewed, what a
failed fetch does to the callers waiting for it, and which entry goes when it is full."""

from __future__ import annotations

import asyncio

import pytest

from connectors.auth.cache import TokenCache
from connectors.auth.token_endpoint import IssuedToken
from gateway.errors import CredentialRefused


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Issuer:
    """Issues numbered tokens living `lifetime` seconds; `fail` makes the next fetch refuse."""

    def __init__(self, clock: Clock, lifetime: float) -> None:
        self.clock, self.lifetime, self.issued, self.fail = clock, lifetime, 0, False

    async def fetch(self) -> IssuedToken:
        await asyncio.sleep(0.01)  # concurrent callers arrive while it is in flight
        if self.fail:
            raise CredentialRefused("refused")
        self.issued += 1
        return IssuedToken(f"token-{self.issued}", self.clock() + self.lifetime)


async def test_a_token_is_renewed_shortly_before_it_expires() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=300)
    cache = TokenCache(8, refresh_before_seconds=30, clock=clock)
    assert (await cache.get("k", issuer.fetch)).value == "token-1"
    clock.now += 269
    assert (await cache.get("k", issuer.fetch)).value == "token-1"
    clock.now += 1  # 30 s before expiry
    assert (await cache.get("k", issuer.fetch)).value == "token-2"


async def test_a_short_lived_token_is_used_for_half_its_life() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=20)  # shorter than refresh_before: never renewed at once
    cache = TokenCache(8, refresh_before_seconds=30, clock=clock)
    await cache.get("k", issuer.fetch)
    clock.now += 9
    assert (await cache.get("k", issuer.fetch)).value == "token-1"
    clock.now += 1
    assert (await cache.get("k", issuer.fetch)).value == "token-2"


async def test_a_failed_fetch_fails_every_waiter_and_is_not_cached() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=300)
    issuer.fail = True
    cache = TokenCache(8, refresh_before_seconds=30, clock=clock)
    results = await asyncio.gather(*(cache.get("k", issuer.fetch) for _ in range(5)), return_exceptions=True)
    assert all(isinstance(r, CredentialRefused) for r in results)
    issuer.fail = False
    assert (await cache.get("k", issuer.fetch)).value == "token-1"
    assert issuer.issued == 1


async def test_a_waiter_giving_up_does_not_cancel_the_exchange_for_others() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=300)
    cache = TokenCache(8, refresh_before_seconds=30, clock=clock)
    impatient = asyncio.ensure_future(cache.get("k", issuer.fetch))
    patient = asyncio.ensure_future(cache.get("k", issuer.fetch))
    await asyncio.sleep(0)
    impatient.cancel()
    assert (await patient).value == "token-1"
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_the_least_recently_used_entry_goes_first() -> None:
    clock = Clock()
    issuer = Issuer(clock, lifetime=300)
    cache = TokenCache(2, refresh_before_seconds=30, clock=clock)
    await cache.get("a", issuer.fetch)
    await cache.get("b", issuer.fetch)
    await cache.get("a", issuer.fetch)  # a is used again: b is the oldest now
    await cache.get("c", issuer.fetch)
    assert len(cache) == 2
    assert (await cache.get("a", issuer.fetch)).value == "token-1"
    assert (await cache.get("b", issuer.fetch)).value == "token-4"
