"""The Idempotency-Key store on its own: replay, refusal of reuse, bounded size and age."""

from __future__ import annotations

import asyncio

import pytest

from gateway.errors import Problem
from gateway.rest.idempotency import IdempotencyStore, StoredResponse

OWNER = ("issuer", "agent-1", None)


def answer(status: int = 200, body: bytes = b"{}") -> StoredResponse:
    return StoredResponse(status, body, "application/json")


class Producer:
    def __init__(self) -> None:
        self.runs = 0

    async def __call__(self) -> StoredResponse:
        self.runs += 1
        return answer(body=str(self.runs).encode())


def keep_all(response: StoredResponse) -> bool:
    return True


async def admit(response: StoredResponse) -> StoredResponse | None:
    return None


async def test_replays_and_refuses_reuse_with_another_digest() -> None:
    store, produce = IdempotencyStore(), Producer()
    first, replayed = await store.run_once(OWNER, "k", "d1", produce, keep_all, admit)
    again, replayed_again = await store.run_once(OWNER, "k", "d1", produce, keep_all, admit)
    assert (first.body, replayed, again.body, replayed_again, produce.runs) == (b"1", False, b"1", True, 1)
    with pytest.raises(Problem) as reused:
        await store.run_once(OWNER, "k", "d2", produce, keep_all, admit)
    assert reused.value.status == 422
    other, _ = await store.run_once(("issuer", "agent-2", None), "k", "d2", produce, keep_all, admit)
    assert other.body == b"2"


async def test_answers_not_kept_are_produced_again() -> None:
    store, produce = IdempotencyStore(), Producer()
    await store.run_once(OWNER, "k", "d", produce, lambda r: False, admit)
    second, replayed = await store.run_once(OWNER, "k", "d", produce, lambda r: False, admit)
    assert (second.body, replayed) == (b"2", False)


async def test_a_failed_production_frees_the_key() -> None:
    store = IdempotencyStore()

    async def broken() -> StoredResponse:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await store.run_once(OWNER, "k", "d", broken, keep_all, admit)
    response, replayed = await store.run_once(OWNER, "k", "d", Producer(), keep_all, admit)
    assert (response.body, replayed) == (b"1", False)


async def test_running_requests_are_409_and_never_evicted() -> None:
    store = IdempotencyStore(capacity=1)
    release = asyncio.Event()

    async def slow() -> StoredResponse:
        await release.wait()
        return answer()

    running = asyncio.create_task(store.run_once(OWNER, "slow", "d", slow, keep_all, admit))
    await asyncio.sleep(0)
    # Over capacity, but the running entry stays: its retries must still see "in use".
    await store.run_once(OWNER, "other", "d", Producer(), keep_all, admit)
    with pytest.raises(Problem) as busy:
        await store.run_once(OWNER, "slow", "d", Producer(), keep_all, admit)
    assert busy.value.status == 409 and busy.value.headers == {"Retry-After": "1"}
    release.set()
    await running
    _, replayed = await store.run_once(OWNER, "slow", "d", Producer(), keep_all, admit)
    assert replayed


async def test_least_recently_used_answers_leave_first_and_old_ones_expire() -> None:
    store, produce = IdempotencyStore(capacity=2), Producer()
    for key in ("a", "b"):
        await store.run_once(OWNER, key, "d", produce, keep_all, admit)
    await store.run_once(OWNER, "a", "d", produce, keep_all, admit)  # a is now the most recent
    await store.run_once(OWNER, "c", "d", produce, keep_all, admit)  # b leaves
    assert (await store.run_once(OWNER, "a", "d", produce, keep_all, admit))[1]
    assert not (await store.run_once(OWNER, "b", "d", produce, keep_all, admit))[1]

    expiring = IdempotencyStore(ttl_seconds=0.0)
    await expiring.run_once(OWNER, "k", "d", produce, keep_all, admit)
    await asyncio.sleep(0.01)
    assert not (await expiring.run_once(OWNER, "k", "d", produce, keep_all, admit))[1]


async def test_a_replay_the_recheck_refuses_returns_the_refusal_and_is_not_replayed() -> None:
    store = IdempotencyStore()
    produce = Producer()
    refusal = answer(403, b"denied")

    async def refuse(response: StoredResponse) -> StoredResponse | None:
        assert response.body == b"1"
        return refusal

    await store.run_once(OWNER, "k", "d", produce, keep_all, admit)
    assert await store.run_once(OWNER, "k", "d", produce, keep_all, refuse) == (refusal, False)
    assert produce.runs == 1
    assert (await store.run_once(OWNER, "k", "d", produce, keep_all, admit))[1], "the stored answer stays"
