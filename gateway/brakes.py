"""Automatic brakes: an agent that crosses a configured threshold within a sliding window
(calls the policy denied, backend errors, successful writes, or the amount moved) is
suspended through the kill switch, pending review; the brake's reviewer roles (and
admins) may resume it.

Counting happens in the memory of each replica, on the calls that replica served: with
N replicas behind a balancer, an agent is stopped at the latest when one replica has
seen the threshold.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import time
from collections import deque
from collections.abc import Mapping
from typing import Any, Protocol

from gateway.brake_settings import BrakeSettings
from gateway.incident_metrics import IncidentMetrics
from gateway.models import Principal, ToolCall

log = logging.getLogger(__name__)

ERROR_OUTCOMES = frozenset({"tool_error", "backend_error", "backend_timeout"})
#: The suspension's author in the audit log.
BRAKE_AUTHOR = "gateway:brake"


class Suspender(Protocol):
    def suspension_of(self, principal: Principal) -> Any: ...

    async def suspend(
        self,
        scope: Any,
        value: str | None,
        *,
        tenant: str | None,
        reason: str,
        by: str,
        source: str = ...,
        resumable_by: tuple[str, ...] = ...,
    ) -> Any: ...


class Brakes:
    def __init__(self, settings: tuple[BrakeSettings, ...], metrics: IncidentMetrics) -> None:
        self._settings = settings
        self._suspender: Suspender | None = None
        #: (brake, issuer, tenant, subject) -> (time, weight) of counted calls within the window.
        self._events: dict[tuple[str, str | None, str | None, str], deque[tuple[float, float]]] = {}
        self._tripping: set[asyncio.Task[None]] = set()
        self.trips = metrics.brake_trips
        for brake in settings:
            self.trips.labels(brake.name)

    def attach(self, suspender: Suspender) -> None:
        self._suspender = suspender

    def observe(self, call: ToolCall, outcome: str, read_only: bool) -> None:
        """Count one finished call; trips (suspends the agent) when a threshold is reached."""
        if not self._settings or call.dry_run or call.compensates:
            return
        now = time.monotonic()
        for brake in self._settings:
            weight = _weight(brake, call, outcome, read_only)
            if weight <= 0 or not _applies(brake, call):
                continue
            p = call.principal
            window = self._events.setdefault((brake.name, p.issuer, p.tenant, p.subject), deque())
            window.append((now, weight))
            while window and window[0][0] <= now - brake.window_seconds:
                window.popleft()
            total = sum(w for _, w in window)
            if total >= brake.threshold:
                window.clear()
                self._trip(brake, p, total)

    def _trip(self, brake: BrakeSettings, principal: Principal, total: float) -> None:
        if self._suspender is None or self._suspender.suspension_of(principal) is not None:
            return
        self.trips.labels(brake.name).inc()
        reason = (
            f"brake {brake.name!r}: {total:g} {_noun(brake)} within {brake.window_seconds:g} s"
            f" (threshold {brake.threshold:g}); suspended pending review"
        )
        task = asyncio.get_running_loop().create_task(self._suspend(brake, principal, reason))
        self._tripping.add(task)
        task.add_done_callback(self._tripping.discard)

    async def _suspend(self, brake: BrakeSettings, principal: Principal, reason: str) -> None:
        assert self._suspender is not None
        try:
            await self._suspender.suspend(
                "subject",
                principal.subject,
                tenant=principal.tenant,
                reason=reason,
                by=BRAKE_AUTHOR,
                source=f"brake:{brake.name}",
                resumable_by=brake.reviewer_roles,
            )
        except Exception:
            log.exception("brake %s could not suspend %s", brake.name, principal.subject)

    async def settle(self) -> None:
        """Wait for suspensions being made (tests, shutdown)."""
        while self._tripping:
            await asyncio.gather(*self._tripping, return_exceptions=True)


def _applies(brake: BrakeSettings, call: ToolCall) -> bool:
    return fnmatch.fnmatchcase(call.qualified_name, brake.tools) and fnmatch.fnmatchcase(
        call.principal.subject, brake.agents
    )


def _weight(brake: BrakeSettings, call: ToolCall, outcome: str, read_only: bool) -> float:
    if brake.count == "denied":
        return 1.0 if outcome == "denied" else 0.0
    if brake.count == "errors":
        return 1.0 if outcome in ERROR_OUTCOMES else 0.0
    if outcome != "ok" or read_only:
        return 0.0
    if brake.count == "writes":
        return 1.0
    return _amount(call.arguments, brake.amount_argument)


def _amount(arguments: Mapping[str, Any], name: str) -> float:
    value = arguments.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return abs(float(value))


def _noun(brake: BrakeSettings) -> str:
    return {"denied": "denied calls", "errors": "failed calls", "writes": "writes", "amount": "moved"}[brake.count]
