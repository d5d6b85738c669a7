"""The kill switch at run time.

    suspend (REST, CLI, console, a brake)
      -> audit record `agent.suspended` (before the row commits: no audit, no change)
      -> row in the shared store ──NOTIFY──► every replica re-reads the active set
      -> each replica cancels its in-flight upstream calls of the suspended agents
      -> the suspending replica denies their held approvals (shared store: once is enough)

Every call checks the in-memory active set at admission (no I/O on the call path) and
again right before it is forwarded. On SQLite, other processes' changes are found by
re-reading the set every `poll_seconds`; PostgreSQL pushes them (LISTEN/NOTIFY) and the
slow poll only guards against a lost notification.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, TypeVar

from gateway.approvals.postgres_store import is_postgres_url
from gateway.approvals.signals import wait_for_event
from gateway.errors import AgentSuspended
from gateway.incident_metrics import IncidentMetrics
from gateway.models import Principal
from gateway.suspensions.model import Scope, Suspension, SuspensionError
from gateway.suspensions.postgres_store import PostgresSuspensionStore
from gateway.suspensions.store import SQLiteSuspensionStore, SuspensionStore

log = logging.getLogger(__name__)
T = TypeVar("T")

#: How often a SQLite gateway re-reads the active suspensions (other processes' changes).
SQLITE_POLL_SECONDS = 0.5
#: PostgreSQL pushes changes; this slow re-read only covers a notification lost in transit.
POSTGRES_POLL_SECONDS = 10.0
MAX_REASON = 2000
#: The name held approvals are denied under (it appears in the approval's votes).
DENIER = "gateway:kill-switch"


class AuditSink(Protocol):
    async def append(self, kind: str, data: dict[str, Any], call_id: str | None = None) -> Any: ...


class HeldCalls(Protocol):
    async def deny_held(self, requested_by: Callable[[Principal], bool], denier: str, reason: str) -> list[str]: ...


@dataclass(eq=False)
class _InFlight:
    principal: Principal
    task: asyncio.Task[Any]
    stopped_by: Suspension | None = field(default=None)


class SuspensionService:
    def __init__(
        self, store: SuspensionStore, audit: AuditSink, held: HeldCalls | None, metrics: IncidentMetrics
    ) -> None:
        self._store = store
        self._audit = audit
        self._held = held
        self._metrics = metrics
        self._active: tuple[Suspension, ...] = ()
        self._in_flight: set[_InFlight] = set()
        #: Cancelled requests still cleaning up after their caller left (kept referenced).
        self._finishing: set[asyncio.Task[Any]] = set()
        self._changed = asyncio.Event()
        self._watcher: asyncio.Task[None] | None = None
        self._poll = POSTGRES_POLL_SECONDS if store.pushes_changes else SQLITE_POLL_SECONDS
        store.on_change(self._changed.set)

    @classmethod
    async def open(
        cls, database: str, audit: AuditSink, held: HeldCalls | None, metrics: IncidentMetrics
    ) -> SuspensionService:
        store: SuspensionStore
        if is_postgres_url(database):
            store = await PostgresSuspensionStore.open(database)
        else:
            store = await SQLiteSuspensionStore.open(database)
        service = cls(store, audit, held, metrics)
        try:
            await service.refresh()
        except BaseException:
            await store.close()
            raise
        service._watcher = asyncio.create_task(service._watch(), name="suspensions-watch")
        return service

    async def close(self) -> None:
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watcher
        await self._store.close()

    # -- the call side (no I/O) ------------------------------------------------------------

    def suspension_of(self, principal: Principal) -> Suspension | None:
        return next((s for s in self._active if s.matches(principal)), None)

    def admit(self, principal: Principal) -> None:
        """Refuse a suspended agent's call (AgentSuspended)."""
        suspension = self.suspension_of(principal)
        if suspension is not None:
            self._metrics.suspended_refused.labels(suspension.scope).inc()
            raise AgentSuspended(suspension.refusal())

    async def forward(self, principal: Principal, work: Coroutine[Any, Any, T]) -> T:
        """Run the upstream request `work` so that a suspension arriving meanwhile cancels it."""
        try:
            self.admit(principal)
        except AgentSuspended:
            work.close()
            raise
        task: asyncio.Task[T] = asyncio.create_task(work)
        entry = _InFlight(principal, task)
        self._in_flight.add(entry)
        try:
            # Shielded: the caller's own cancellation reaches the request once (below), so
            # the connector's cleanup (an MCP courtesy cancel upstream) is not cut short by
            # the repeated cancels a cancel scope delivers.
            return await asyncio.shield(task)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if entry.stopped_by is not None and (current is None or current.cancelling() == 0):
                raise AgentSuspended(entry.stopped_by.refusal()) from None
            task.cancel()
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)
            raise
        finally:
            self._in_flight.discard(entry)

    # -- the operator side -----------------------------------------------------------------

    async def suspend(
        self,
        scope: Scope,
        value: str | None,
        *,
        tenant: str | None,
        reason: str,
        by: str,
        source: str = "manual",
        resumable_by: tuple[str, ...] = (),
    ) -> Suspension:
        suspension = Suspension(
            suspension_id=f"sus_{secrets.token_hex(8)}",
            scope=scope,
            value=_target(scope, value, tenant),
            tenant=tenant if scope in ("subject", "client") else None,
            reason=_reason(reason),
            suspended_by=by,
            suspended_at=time.time(),
            source=source,
            resumable_by=resumable_by,
        )
        await self._store.insert(suspension, lambda s: self._record("agent.suspended", s))
        self._apply((*self._active, suspension))
        if self._held is not None:
            denied = await self._held.deny_held(suspension.matches, DENIER, suspension.refusal())
            if denied:
                log.warning("%s: denied held approvals %s", suspension.describe(), ", ".join(denied))
        return suspension

    async def resume(self, suspension_id: str, *, reason: str, by: str) -> Suspension:
        now, why = time.time(), _reason(reason)

        def change(current: Suspension) -> Suspension:
            if not current.active:
                raise SuspensionError(
                    "conflict", f"suspension {suspension_id} was already resumed by {current.resumed_by}"
                )
            return replace(current, resumed_by=by, resumed_at=now, resume_reason=why)

        resumed = await self._store.update(suspension_id, change, lambda s: self._record("agent.resumed", s))
        self._apply(tuple(s for s in self._active if s.suspension_id != suspension_id))
        return resumed

    def active(self) -> tuple[Suspension, ...]:
        return self._active

    async def history(self, limit: int = 100) -> list[Suspension]:
        return await self._store.history(limit)

    async def refresh(self) -> None:
        self._apply(tuple(await self._store.active()))

    # -- internals -------------------------------------------------------------------------

    def _apply(self, active: tuple[Suspension, ...]) -> None:
        """Make `active` the set in force and stop in-flight calls it newly suspends."""
        known = {s.suspension_id for s in self._active}
        self._active = active
        self._metrics.set_active(active)
        for suspension in (s for s in active if s.suspension_id not in known):
            for entry in list(self._in_flight):
                if entry.stopped_by is None and suspension.matches(entry.principal):
                    entry.stopped_by = suspension
                    entry.task.cancel()
                    self._metrics.suspended_cancelled.inc()

    async def _watch(self) -> None:
        while True:
            await wait_for_event(self._changed, self._poll)
            self._changed.clear()
            try:
                await self.refresh()
            except SuspensionError as exc:
                # Keep enforcing the last set read: an unreadable store must not lift a suspension.
                log.warning("suspensions: cannot re-read the active set: %s", exc.message)

    async def _record(self, kind: str, suspension: Suspension) -> None:
        try:
            await self._audit.append(kind, suspension.to_json())
        except Exception as exc:
            raise SuspensionError("unavailable", f"the audit log is unavailable, nothing was changed: {exc}") from exc


def _reason(text: str) -> str:
    text = text.strip()
    if not text:
        raise SuspensionError("invalid", "a reason is required: say why, it is audited and shown to the agent")
    if len(text) > MAX_REASON:
        raise SuspensionError("invalid", f"the reason is longer than {MAX_REASON} characters")
    return text


def _target(scope: str, value: str | None, tenant: str | None) -> str | None:
    if scope == "all":
        if value is not None or tenant is not None:
            raise SuspensionError("invalid", "a suspension of everything names no subject, client or tenant")
        return None
    if scope == "tenant":
        value = value if value is not None else tenant
    if scope not in ("subject", "client", "tenant"):
        raise SuspensionError("invalid", f"unknown scope {scope!r}: one of subject, client, tenant, all")
    if not value or not value.strip() or len(value) > 256:
        raise SuspensionError("invalid", f"a {scope} suspension needs the {scope} name (1 to 256 characters)")
    return value
