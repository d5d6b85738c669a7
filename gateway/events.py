"""What happens inside the gateway that other parts react to, and the one bus it travels on.

Each event is a frozen dataclass below. A part that reacts subscribes a coroutine to the
event's class; a part that notices something publishes an instance. Nobody holds a
reference to anybody else's listener list.

=======================  ======================================  ===========================================
event                    published by                            subscribers
=======================  ======================================  ===========================================
``ToolsChanged``         an upstream that announced a changed    the gateway: refetches that connector's
                         tool list, or restarted (connectors.mcp); tools, then publishes ``ListingChanged``
                         a tool definition approved on another
                         replica (gateway.pins.postgres_store)
``ListingChanged``       an upstream (prompts, resources); the   the MCP front door: ``notifications/<kind>/
                         gateway after a tool refresh or a       list_changed`` to every open session
                         policy change
``ResourceUpdated``      an upstream                             the MCP front door: ``notifications/
                                                                 resources/updated`` to its subscribers
``PolicyReloaded``       the policy file watcher                 the gateway: metrics, audit record and,
                                                                 when the policy changed, ``ListingChanged``
=======================  ======================================  ===========================================

An approval's decision is not an event here: a held call waits on its own approval's
wake-up (`gateway.approvals.signals`), which PostgreSQL NOTIFY feeds across replicas.

Delivery is in order of subscription, in a task of its own: an upstream publishes from its
session's receive loop, and a subscriber may well ask that same upstream for its new list.
A failing subscriber is logged and does not keep the event from the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from gateway.policy import ReloadResult

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ToolsChanged:
    """The tools of `connector` may have changed (its cached list is stale)."""

    connector: str


@dataclass(frozen=True, slots=True)
class ListingChanged:
    """What agents may list of `kind` ("tools", "prompts" or "resources") has changed."""

    kind: str


@dataclass(frozen=True, slots=True)
class ResourceUpdated:
    """The upstream resource `uri` changed (agents subscribed to it are told)."""

    uri: str


@dataclass(frozen=True, slots=True)
class PolicyReloaded:
    """A policy reload was attempted: `result` says whether it passed and what is in force."""

    result: ReloadResult
    #: What asked for it: "file change", "SIGHUP", "admin endpoint (subject)".
    trigger: str


#: Every event the bus carries.
Event = ToolsChanged | ListingChanged | ResourceUpdated | PolicyReloaded
#: The kinds a ListingChanged may name.
LISTING_KINDS = ("tools", "prompts", "resources")
E = TypeVar("E", ToolsChanged, ListingChanged, ResourceUpdated, PolicyReloaded)


class EventBus:
    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[Callable[[Any], Awaitable[None]]]] = {}
        self._deliveries: set[asyncio.Task[None]] = set()

    def subscribe(self, event: type[E], subscriber: Callable[[E], Awaitable[None]]) -> None:
        self._subscribers.setdefault(event, []).append(subscriber)

    def publish(self, event: Event) -> None:
        subscribers = list(self._subscribers.get(type(event), ()))
        if not subscribers:
            return
        task = asyncio.get_running_loop().create_task(_deliver(event, subscribers))
        self._deliveries.add(task)
        task.add_done_callback(self._deliveries.discard)

    async def settle(self) -> None:
        """Until every event published so far has reached its subscribers."""
        while self._deliveries:
            await asyncio.gather(*self._deliveries, return_exceptions=True)

    async def close(self) -> None:
        """Drop deliveries still running (the gateway is stopping)."""
        for task in list(self._deliveries):
            task.cancel()
        await asyncio.gather(*self._deliveries, return_exceptions=True)


async def _deliver(event: Event, subscribers: list[Callable[[Any], Awaitable[None]]]) -> None:
    for subscriber in subscribers:
        try:
            await subscriber(event)
        except Exception:
            log.exception("subscriber %s failed on %s", getattr(subscriber, "__qualname__", subscriber), event)
