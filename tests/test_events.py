"""The event bus: every subscriber of an event's class gets it, in order of subscription,
one failing subscriber does not keep it from the others, and other classes are not told."""

from __future__ import annotations

import asyncio
import logging

import pytest

from gateway.events import EventBus, ListingChanged, ResourceUpdated, ToolsChanged


async def test_subscribers_get_their_events_in_order_despite_a_failing_one(caplog: pytest.LogCaptureFixture) -> None:
    bus = EventBus()
    got: list[str] = []

    async def first(event: ListingChanged) -> None:
        got.append(f"first {event.kind}")

    async def broken(event: ListingChanged) -> None:
        raise RuntimeError("subscriber bug")

    async def last(event: ListingChanged) -> None:
        got.append(f"last {event.kind}")

    async def tools(event: ToolsChanged) -> None:
        got.append(f"tools {event.connector}")

    for subscriber in (first, broken, last):
        bus.subscribe(ListingChanged, subscriber)
    bus.subscribe(ToolsChanged, tools)
    with caplog.at_level(logging.ERROR, logger="gateway.events"):
        bus.publish(ListingChanged("prompts"))
        bus.publish(ResourceUpdated("x://nobody-listens"))
        await bus.settle()
    assert got == ["first prompts", "last prompts"]
    assert "subscriber bug" in caplog.text


async def test_close_drops_deliveries_still_running() -> None:
    bus = EventBus()
    finished: list[str] = []

    async def slow(event: ResourceUpdated) -> None:
        await asyncio.sleep(10)
        finished.append(event.uri)

    bus.subscribe(ResourceUpdated, slow)
    bus.publish(ResourceUpdated("x://a"))
    await bus.close()
    assert finished == []
