"""The approval stage: hold a call until people decide, then let it run exactly once.

The pipeline calls `hold` for an approve decision and `record_result` after the single
execution; approvers reach `vote` through the REST API, the CLI and the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from prometheus_client import CollectorRegistry

from gateway.approvals import machine
from gateway.approvals.call_status import CallStatus, call_status, is_requester
from gateway.approvals.codec import principal_to_json
from gateway.approvals.errors import ApprovalError
from gateway.approvals.postgres_store import PostgresApprovalStore, is_postgres_url
from gateway.approvals.signals import Signals, wait_for_event
from gateway.approvals.store import ApprovalFilter, ApprovalStore, SQLiteApprovalStore, StoredApproval
from gateway.approvals.webhooks import WebhookNotifier
from gateway.config import ApprovalSettings
from gateway.metrics import ApprovalMetrics
from gateway.models import Approval, ApprovalState, Decision, Principal, ToolCall, ToolResult

log = logging.getLogger(__name__)

HoldAction = Literal["execute", "replay", "pending", "denied", "expired"]
ProgressCallback = Callable[[Approval], Awaitable[None]]

#: What retries of a call get when the gateway stopped after claiming its execution: the
#: backend may or may not have run it, and running it again could do it twice.
INTERRUPTED_RESULT = ToolResult.text(
    "the gateway stopped while this approved call was being executed; its outcome is unknown"
    " and it will not be executed again: check the backend",
    is_error=True,
)
#: Upper bound on one sweeper sleep: a wall-clock jump, and approvals opened or decided on
#: other replicas (the pending gauge), are noticed within this time.
_SWEEP_MAX_SLEEP = 15.0


class AuditSink(Protocol):
    async def append(self, kind: str, data: dict[str, Any], call_id: str | None = None) -> Any: ...


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    approval: Approval
    action: HoldAction
    #: For "replay": the stored result of the single execution.
    result: ToolResult | None = None


def binding_key(principal: Principal, connector: str, tool: str, arguments_digest: str) -> str:
    """What makes two requests the same call: who, which tool, which exact arguments."""
    parts = [principal.issuer, principal.tenant, principal.subject, connector, tool, arguments_digest]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()


class ApprovalService:
    def __init__(
        self,
        settings: ApprovalSettings,
        audit: AuditSink,
        store: ApprovalStore,
        notifier: WebhookNotifier,
        metrics: ApprovalMetrics,
        signals: Signals,
    ) -> None:
        self._settings = settings
        self._metrics = metrics
        self._audit = audit
        self._store = store
        self._notifier = notifier
        self._signals = signals
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls, settings: ApprovalSettings, audit: AuditSink, *, metrics: ApprovalMetrics | None = None
    ) -> ApprovalService:
        """`metrics`: the gateway's (`Metrics.approvals`); private ones when None. A
        `postgresql://` database serves several replicas: changes made on one wake the calls
        held on the others."""
        metrics = metrics or ApprovalMetrics(CollectorRegistry())
        signals = Signals()
        store: ApprovalStore
        if is_postgres_url(settings.database):
            store = await PostgresApprovalStore.open(settings.database, signals)
        else:
            store = await SQLiteApprovalStore.open(settings.database)
        try:
            interrupted = await store.settle_interrupted(INTERRUPTED_RESULT)
            if interrupted:
                log.warning("approved executions interrupted by the last stop: %s", ", ".join(interrupted))
            metrics.pending.set(await store.count_pending())
        except BaseException:
            await store.close()
            raise
        service = cls(settings, audit, store, WebhookNotifier(settings), metrics, signals)
        service._sweeper = asyncio.create_task(service._sweep(), name="approval-expiry-sweeper")
        return service

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        await self._notifier.close()
        await self._store.close()

    @property
    def settings(self) -> ApprovalSettings:
        return self._settings

    # -- the call side -----------------------------------------------------------------

    async def hold(
        self,
        call: ToolCall,
        decision: Decision,
        arguments_digest: str,
        *,
        wait_seconds: float,
        on_progress: ProgressCallback | None = None,
    ) -> HoldOutcome:
        """Join or open the approval for this exact call and wait up to `wait_seconds`
        (capped by max_hold_seconds) for people to decide. A retry that finds the approved
        call executing waits for its result up to max_hold_seconds even when `wait_seconds`
        is shorter: that wait is for the backend, not for people."""
        loop = asyncio.get_running_loop()
        max_hold = self._settings.max_hold_seconds
        decide_by = loop.time() + max(0.0, min(wait_seconds, max_hold))
        now = time.time()
        ttl = decision.approval_ttl if decision.approval_ttl is not None else self._settings.default_ttl_seconds
        candidate = Approval(
            approval_id=f"apr_{secrets.token_hex(12)}",
            call_id=call.call_id,
            principal=call.principal,
            connector=call.connector,
            tool=call.tool,
            arguments=dict(call.arguments),
            arguments_digest=arguments_digest,
            rule=decision.rule,
            policy_version=decision.policy_version,
            approvals_required=max(1, decision.approvals_required),
            approver_role=decision.approver_role,
            requested_at=now,
            expires_at=now + ttl,
        )
        stored, created = await self._store.join_or_create(
            binding_key(call.principal, call.connector, call.tool, arguments_digest),
            candidate,
            since=now - self._settings.retain_outcome_seconds,
            before_insert=self._audit_requested,
        )
        if created:
            self._signals.notify(stored.approval.approval_id)
            self._notifier.send("requested", stored.approval)
        return await self._outcome(stored.approval.approval_id, decide_by, loop.time() + max_hold, on_progress)

    async def record_result(self, approval_id: str, result: ToolResult) -> None:
        """Store the result of the single execution; waiting retries replay it."""
        if not await self._store.save_result(approval_id, result):
            raise ApprovalError("conflict", f"approval {approval_id} has no claimed execution to record a result for")
        self._signals.notify(approval_id)

    # -- the approver side -------------------------------------------------------------

    async def vote(self, approval_id: str, approver: Principal, approve: bool, comment: str) -> Approval:
        now = time.time()

        def change(current: Approval) -> Approval:
            return machine.apply_vote(
                current, approver, approve, comment, now=now, default_roles=self._settings.approver_roles
            )

        stored = await self._store.transition(approval_id, change, self._audit_vote, now=now)
        if stored is None:
            raise ApprovalError("not_found", f"no approval with id {approval_id}")
        self._changed(stored, "voted")
        return stored.approval

    async def deny_held(self, requested_by: Callable[[Principal], bool], denier: str, reason: str) -> list[str]:
        """Deny every pending approval whose requester matches (a suspended agent's held
        calls); returns their ids. The waiting calls wake and are refused with `reason`."""
        pending = await self._store.list(ApprovalFilter(states=(ApprovalState.PENDING,), limit=100_000))
        denied = []
        for stored in pending:
            if not requested_by(stored.approval.principal):
                continue
            now = time.time()
            after = await self._store.transition(
                stored.approval.approval_id,
                lambda a: machine.deny_by_gateway(a, denier, reason, now=now),  # noqa: B023 - used at once
                self._audit_vote,
                now=now,
            )
            if after is not None:
                self._changed(after, "voted")
                denied.append(after.approval.approval_id)
        return denied

    async def get(self, approval_id: str) -> StoredApproval:
        stored = await self._store.get(approval_id)
        if stored is None:
            raise ApprovalError("not_found", f"no approval with id {approval_id}")
        return stored

    async def status_for(self, approval_id: str, requester: Principal) -> CallStatus:
        """The requesting agent's view of its held call; any other caller learns nothing,
        not even that the id exists."""
        stored = await self._store.get(approval_id)
        if stored is None or not is_requester(stored, requester):
            raise ApprovalError("not_found", f"no held call of yours has approval id {approval_id!r}")
        if stored.approval.state is ApprovalState.PENDING and stored.approval.expires_at <= time.time():
            await self._expire(approval_id)
            stored = await self.get(approval_id)
        return call_status(stored)

    async def list(self, query: ApprovalFilter) -> list[StoredApproval]:
        return await self._store.list(query)

    # -- internals ---------------------------------------------------------------------

    async def _outcome(
        self, approval_id: str, decide_by: float, give_up_at: float, on_progress: ProgressCallback | None
    ) -> HoldOutcome:
        loop = asyncio.get_running_loop()
        reported = -1
        while True:
            changed = self._signals.watch(approval_id)  # before the read: no change is missed
            stored = await self.get(approval_id)
            approval = stored.approval
            if on_progress is not None and len(approval.votes) != reported:
                reported = len(approval.votes)
                on_progress = await _report(on_progress, approval)
            if approval.state is ApprovalState.PENDING:
                until_expiry = approval.expires_at - time.time()
                if until_expiry <= 0:
                    await self._expire(approval_id)
                    continue
                deadline = decide_by
                wake_at = min(deadline, loop.time() + until_expiry)
            elif approval.state is ApprovalState.APPROVED:
                if stored.execution == "none" and await self._store.claim(approval_id):
                    return HoldOutcome(approval, "execute")
                if stored.execution == "done":
                    return HoldOutcome(approval, "replay", stored.result)
                # Claimed by another caller and still running: wait for record_result.
                deadline = wake_at = give_up_at
            else:
                return HoldOutcome(approval, approval.state.value)  # type: ignore[arg-type]
            if loop.time() >= deadline:
                return HoldOutcome(approval, "pending")
            await wait_for_event(changed, wake_at - loop.time())

    async def _expire(self, approval_id: str) -> None:
        now = time.time()
        stored = await self._store.transition(
            approval_id, lambda a: machine.expire(a, now=now), self._audit_expired, now=now
        )
        if stored is not None:
            self._changed(stored, "expired")

    def _changed(self, stored: StoredApproval, event: str) -> None:
        approval = stored.approval
        self._signals.notify(approval.approval_id)
        if approval.state is ApprovalState.PENDING:
            self._notifier.send(event, approval)
            return
        self._metrics.outcomes.labels(approval.state.value).inc()
        self._metrics.time_to_decision.observe(max(0.0, (stored.decided_at or time.time()) - approval.requested_at))
        if event == "voted":
            self._notifier.send("voted", approval)
            event = "decided"
        self._notifier.send(event, approval)

    async def _sweep(self) -> None:
        """Expire approvals when they fall due: sleeps until the next expiry or until an
        approval was opened or decided. Each round also takes the pending count from the
        store, so every replica of a shared store reports the same, whole figure."""
        while True:
            self._signals.changed.clear()
            try:
                for approval_id in await self._store.due(time.time()):
                    await self._expire(approval_id)
                next_expiry = await self._store.next_expiry()
                self._metrics.pending.set(await self._store.count_pending())
            except Exception:
                log.exception("approval expiry sweep failed; retrying")
                await asyncio.sleep(1.0)
                continue
            sleep = _SWEEP_MAX_SLEEP if next_expiry is None else min(_SWEEP_MAX_SLEEP, next_expiry - time.time())
            await wait_for_event(self._signals.changed, sleep)

    # -- audit (runs before a change commits: no audit, no change) -----------------------

    async def _append(self, kind: str, approval: Approval, data: dict[str, Any]) -> None:
        record = {"approval_id": approval.approval_id, "state": approval.state.value, **data}
        try:
            await self._audit.append(kind, record, call_id=approval.call_id)
        except Exception as exc:
            raise ApprovalError("unavailable", f"the audit log is unavailable, nothing was changed: {exc}") from exc

    async def _audit_requested(self, approval: Approval) -> None:
        await self._append(
            "approval.requested",
            approval,
            {
                "approver": None,
                "approve": None,
                "comment": None,
                "requester": principal_to_json(approval.principal),
                "connector": approval.connector,
                "tool": approval.tool,
                "arguments_digest": approval.arguments_digest,
                "rule": approval.rule,
                "policy_version": approval.policy_version,
                "approvals_required": approval.approvals_required,
                "approver_role": approval.approver_role,
                "expires_at": approval.expires_at,
            },
        )

    async def _audit_vote(self, before: Approval, after: Approval) -> None:
        vote = after.votes[-1]
        data = {"approver": vote.approver, "approve": vote.approve, "comment": vote.comment}
        await self._append(
            "approval.voted",
            after,
            {**data, "approvals": machine.approvals_count(after), "approvals_required": after.approvals_required},
        )
        if after.state is not ApprovalState.PENDING:
            await self._append("approval.decided", after, data)

    async def _audit_expired(self, before: Approval, after: Approval) -> None:
        await self._append(
            "approval.expired",
            after,
            {"approver": None, "approve": False, "comment": machine.deny_reason(after), "expires_at": after.expires_at},
        )


async def _report(on_progress: ProgressCallback, approval: Approval) -> ProgressCallback | None:
    """Progress is advisory: a failing sender (a gone client) must not end the hold."""
    try:
        await on_progress(approval)
    except Exception:
        log.warning("approval progress callback failed; no more progress for %s", approval.approval_id, exc_info=True)
        return None
    return on_progress
