"""What /readyz answers: the result of the last probe of the audit store, the policy and
every backend, refreshed in the background. A flood of /readyz requests never reaches a
backend; the answer is at most one interval old."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BackendState:
    healthy: bool
    #: The connector's own words (may name the backend's address: operators only).
    detail: str
    #: Why credentials travel to this backend unencrypted, while they do (operators only).
    warning: str | None = None


@dataclass(frozen=True, slots=True)
class Readiness:
    audit: bool
    policy: str
    backends: dict[str, BackendState] = field(default_factory=dict)
    #: Each trusted issuer's key state (gateway.identity): its tokens are refused while not ready.
    issuers: dict[str, dict[str, Any]] = field(default_factory=dict)
    checked_at: float = 0.0

    @property
    def ready(self) -> bool:
        return self.audit and bool(self.policy) and all(state["ready"] for state in self.issuers.values())

    def public(self) -> dict[str, Any]:
        """For anyone (a load balancer, a kubelet): ready or not, nothing about the inside."""
        return {"ready": self.ready, "checked_at": self.checked_at}

    def operator(self) -> dict[str, Any]:
        """For an authenticated operator: every part, with the backends' own details."""
        backends = {name: _backend(s) for name, s in self.backends.items()}
        return {
            **self.public(),
            "audit": self.audit,
            "policy": self.policy,
            "backends": backends,
            "issuers": self.issuers,
        }


def _backend(state: BackendState) -> dict[str, Any]:
    shown: dict[str, Any] = {"healthy": state.healthy, "detail": state.detail}
    if state.warning is not None:
        shown["warning"] = state.warning
    return shown


Probe = Callable[[], Awaitable[Readiness]]


class ReadinessProbe:
    """Runs `probe` now and then every `interval` seconds; `latest` is the last result."""

    def __init__(self, probe: Probe, interval: float) -> None:
        self._probe = probe
        self._interval = interval
        self._task: asyncio.Task[None] | None = None
        self.latest = Readiness(audit=False, policy="")

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._loop(), name="readiness-probe")

    async def refresh(self) -> Readiness:
        self.latest = await self._probe()
        return self.latest

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.refresh()
            except Exception:
                # A probe that breaks must not stop later ones; the last result stands.
                log.exception("readiness probe failed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
