"""The approval stage: hold a call until people decide, then let it run exactly once.

The pipeline calls `hold` for an approve decision and `record_result` after the single
execution; approvers reach `vote` through the REST API, the CLI and the console.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import dataclasses
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

from prometheus_client import CollectorRegistry

from gateway.approvals import machine
from gateway.approvals.call_status import CallStatus, call_status, is_requester, outcome_text
from gateway.approvals.codec import principal_to_json
from gateway.approvals.errors import ApprovalError
from gateway.approvals.machine import deny_reason
from gateway.approvals.postgres_store import PostgresApprovalStore, is_postgres_url
from gateway.approvals.scope import ApproverScope, PolicySource, Standing, tenant_of, voter_principal
from gateway.approvals.signals import Signals, wait_for_event
from gateway.approvals.store import (
    ApprovalFilter,
    ApprovalStore,
    Opening,
    PendingCapReached,
    SQLiteApprovalStore,
    StoredApproval,
)
from gateway.approvals.webhooks import webhook_notifiers
from gateway.audit.kinds import RecordKind
from gateway.config import ApprovalSettings
from gateway.metrics import ApprovalMetrics
from gateway.models import Approval, ApprovalState, ApprovalVote, Decision, Effect, Principal, ToolCall, ToolResult

log = logging.getLogger(__name__)

HoldAction = Literal["execute", "replay", "pending", "denied", "expired", "superseded"]
ProgressCallback = Callable[[Approval], Awaitable[None]]

#: What retries of a call get when the gateway stopped after claiming its execution: the
#: backend may or may not have run it, and running it again could do it twice.
INTERRUPTED_RESULT = ToolResult.text(
    "the gateway stopped while this approved call was being executed; its outcome is unknown"
    " and it will not be executed again: check the backend",
    is_error=True,
)
#: The standing of the gateway itself when it denies (a suspended agent's held calls).
_BY_GATEWAY = Standing(role=None, via="the gateway", read=True, not_eligible=None)
#: Upper bound on one sweeper sleep: a wall-clock jump, and approvals opened or decided on
#: other replicas (the pending gauge), are noticed within this time.
_SWEEP_MAX_SLEEP = 15.0


class AuditSink(Protocol):
    async def append(self, kind: str, data: dict[str, Any], call_id: str | None = None) -> Any: ...


class Notifier(Protocol):
    """Told every approval event; `send` must neither block nor raise (see webhooks.py)."""

    def send(self, event: str, approval: Approval) -> None: ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class HoldOutcome:
    approval: Approval
    action: HoldAction
    #: For "replay": the stored result of the single execution.
    result: ToolResult | None = None
    #: For "superseded": why the approved call was refused at execution.
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Recheck:
    """The approval measured against the policy in force at execution."""

    #: Why it may not execute (None: it may).
    refusal: str | None
    #: The approving votes that satisfy the current rule's approver role.
    votes: tuple[ApprovalVote, ...]


def binding_key(principal: Principal, connector: str, tool: str, arguments_digest: str, *, result: bool = False) -> str:
    """What makes two requests the same call: who, which tool, which exact arguments. A
    result held for review binds apart from an approval of the call itself."""
    parts = [principal.issuer, principal.tenant, principal.subject, connector, tool, arguments_digest]
    return hashlib.sha256(json.dumps([*parts, "result"] if result else parts).encode()).hexdigest()


class ApprovalService:
    def __init__(
        self,
        settings: ApprovalSettings,
        audit: AuditSink,
        store: ApprovalStore,
        notifiers: list[Notifier],
        metrics: ApprovalMetrics,
        signals: Signals,
        policy: PolicySource | None = None,
    ) -> None:
        self._settings = settings
        self.scope = ApproverScope(policy, settings.approver_roles, settings.auditor_roles)
        self._metrics = metrics
        self._audit = audit
        self._store = store
        self._notifiers = notifiers
        self._signals = signals
        self._sweeper: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        settings: ApprovalSettings,
        audit: AuditSink,
        *,
        metrics: ApprovalMetrics | None = None,
        policy: PolicySource | None = None,
    ) -> ApprovalService:
        """`metrics`: the gateway's (`Metrics.approvals`); private ones when None. `policy`:
        resolves approvers' roles per tenant (token roles only when None). A
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
        service = cls(settings, audit, store, [*webhook_notifiers(settings, audit)], metrics, signals, policy)
        service._sweeper = asyncio.create_task(service._sweep(), name="approval-expiry-sweeper")
        return service

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper
        for notifier in self._notifiers:
            await notifier.close()
        await self._store.close()

    def add_notifier(self, notifier: Notifier) -> None:
        """Tell `notifier` every approval event from now on (closed with the service)."""
        self._notifiers.append(notifier)

    def _notify(self, event: str, approval: Approval) -> None:
        for notifier in self._notifiers:
            notifier.send(event, approval)

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
        ttl = decision.approval_ttl if decision.approval_ttl is not None else self._settings.default_ttl_seconds
        candidate = _candidate(call, arguments_digest, decision, ttl)
        binding = binding_key(call.principal, call.connector, call.tool, arguments_digest)
        stored, _ = await self._join_or_create(call, binding, candidate)
        return await self.await_decision(
            stored.approval.approval_id, wait_seconds=wait_seconds, on_progress=on_progress
        )

    async def keep_result(
        self, call: ToolCall, arguments_digest: str, result: ToolResult, *, rule: str, reason: str, policy_version: str
    ) -> tuple[Approval, bool]:
        """Hold `result`, which the backend returned for `call`, until one approver releases
        it (approve) or refuses it (deny). `rule` and `reason` name the result rule and what
        it found, never a value. Returns the approval and whether it is new: an identical
        call's result held already is joined, and this one is dropped."""
        hold = Decision(Effect.APPROVE, rule, reason, policy_version, approvals_required=1)
        candidate = _candidate(call, arguments_digest, hold, self._settings.default_ttl_seconds)
        binding = binding_key(call.principal, call.connector, call.tool, arguments_digest, result=True)
        stored, created = await self._join_or_create(call, binding, candidate, kept=result)
        return stored.approval, created

    async def held_result(self, call: ToolCall, arguments_digest: str) -> Approval | None:
        """The approval holding the result of this exact call for review, while it is live
        (pending, or decided within retain_outcome_seconds): a retry collects its outcome."""
        binding = binding_key(call.principal, call.connector, call.tool, arguments_digest, result=True)
        stored = await self._store.live(binding, time.time() - self._settings.retain_outcome_seconds)
        return None if stored is None else stored.approval

    async def await_decision(
        self, approval_id: str, *, wait_seconds: float, on_progress: ProgressCallback | None = None
    ) -> HoldOutcome:
        """Wait up to `wait_seconds` (capped by max_hold_seconds) for people to decide."""
        loop = asyncio.get_running_loop()
        max_hold = self._settings.max_hold_seconds
        decide_by = loop.time() + max(0.0, min(wait_seconds, max_hold))
        return await self._outcome(approval_id, decide_by, loop.time() + max_hold, on_progress)

    async def _join_or_create(
        self, call: ToolCall, binding: str, candidate: Approval, kept: ToolResult | None = None
    ) -> tuple[StoredApproval, bool]:
        try:
            stored, created = await self._store.join_or_create(
                Opening(
                    binding,
                    candidate,
                    since=time.time() - self._settings.retain_outcome_seconds,
                    before_insert=self._audit_requested,
                    pending_cap=self._settings.max_pending_per_principal,
                    kept=kept,
                )
            )
        except PendingCapReached as exc:
            await self._audit_refused(call, exc.message)
            raise
        if created:
            self._signals.notify(stored.approval.approval_id)
            self._notify("requested", stored.approval)
        return stored, created

    async def record_result(self, approval_id: str, result: ToolResult) -> None:
        """Store the result of the single execution; waiting retries replay it."""
        if not await self._store.save_result(approval_id, result):
            raise ApprovalError("conflict", f"approval {approval_id} has no claimed execution to record a result for")
        self._signals.notify(approval_id)

    # -- the approver side -------------------------------------------------------------

    async def vote(self, approval_id: str, approver: Principal, approve: bool, comment: str) -> Approval:
        """`approver`'s vote; ApprovalError (not_found also for an approval it may not see)."""
        now = time.time()
        standings: list[Standing] = []

        def change(current: Approval) -> Approval:
            standing = self.scope.standing(current, approver)
            if not standing.read:
                raise ApprovalError("not_found", f"no approval with id {approval_id}")
            standings.append(standing)
            return machine.apply_vote(current, approver, approve, comment, now=now, standing=standing)

        async def audit(before: Approval, after: Approval) -> None:
            await self._audit_vote(after, standings[-1])

        stored = await self._store.transition(approval_id, change, audit, now=now)
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
                self._audit_gateway_denial,
                now=now,
            )
            if after is not None:
                self._changed(after, "voted")
                denied.append(after.approval.approval_id)
        return denied

    async def get(self, approval_id: str, viewer: Principal | None = None) -> StoredApproval:
        """The approval; with `viewer`, only when it may read it (not_found otherwise, so
        an id of another tenant reveals nothing)."""
        stored = await self._store.get(approval_id)
        if stored is None or (viewer is not None and not self.scope.standing(stored.approval, viewer).read):
            raise ApprovalError("not_found", f"no approval with id {approval_id}")
        return stored

    def standing(self, approval: Approval, viewer: Principal) -> Standing:
        return self.scope.standing(approval, viewer)

    def vote_refusal(self, approval: Approval, viewer: Principal) -> str | None:
        """Why `viewer` cannot vote on `approval` now (None: it can)."""
        refusal = machine.vote_refusal(approval, viewer, self.scope.standing(approval, viewer), now=time.time())
        return refusal.message if refusal is not None else None

    def recheck(self, approval: Approval, decision: Decision) -> Recheck:
        """Whether the approved call may execute under `decision`, the current policy's
        decision of it at execution: still approve, with enough approving votes from holders
        of that rule's approver role (resolved with the current policy, in the call's tenant)."""
        if decision.effect is not Effect.APPROVE:
            return Recheck(f"the policy in force now no longer asks for approval: {decision.reason}", ())
        roles = (decision.approver_role,) if decision.approver_role else self.scope.default_roles
        tenant = tenant_of(approval)
        votes = tuple(
            v for v in approval.votes if v.approve and self.scope.holds(voter_principal(v), roles, tenant) is not None
        )
        required = max(1, decision.approvals_required)
        if len(votes) < required:
            who = ", ".join(v.approver for v in votes) or "none"
            return Recheck(
                f"the policy in force now {decision.reason}; {len(votes)} of the votes cast qualify ({who})", votes
            )
        return Recheck(None, votes[:required] if len(votes) > required else votes)

    async def supersede(self, approval_id: str, reason: str) -> None:
        """Refuse the approved call whose execution this caller claimed: the policy or the
        execution window says no. Retries get `reason`; a new request is decided afresh."""
        now = time.time()

        async def audit(before: Approval, after: Approval) -> None:
            await self._append(RecordKind.APPROVAL_SUPERSEDED, after, {"reason": reason})

        stored = await self._store.transition(approval_id, machine.supersede, audit, now=now)
        await self._store.save_result(approval_id, ToolResult.text(reason, is_error=True))
        self._signals.notify(approval_id)
        if stored is not None:
            self._metrics.outcomes.labels(ApprovalState.SUPERSEDED.value).inc()

    async def status_for(self, approval_id: str, requester: Principal) -> CallStatus:
        """The requesting agent's view of its held call; any other caller learns nothing,
        not even that the id exists."""
        stored = await self._store.get(approval_id)
        if stored is None or not is_requester(stored, requester):
            raise ApprovalError("not_found", f"no held call of yours has approval id {approval_id!r}")
        if stored.approval.state is ApprovalState.PENDING and stored.approval.expires_at <= time.time():
            await self._expire(approval_id)
            stored = await self.get(approval_id)
        return call_status(stored, self.execute_by(stored))

    async def list(self, query: ApprovalFilter, viewer: Principal | None = None) -> builtins.list[StoredApproval]:
        """Approvals matching `query`; with `viewer`, only those it may read."""
        return await self._store.list(self._visible(query, viewer))

    async def count(self, query: ApprovalFilter, viewer: Principal | None = None) -> int:
        return await self._store.count(self._visible(query, viewer))

    def _visible(self, query: ApprovalFilter, viewer: Principal | None) -> ApprovalFilter:
        return query if viewer is None else dataclasses.replace(query, scopes=self.scope.visible(viewer))

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
                    return await self._executable(stored)
                if stored.execution == "done":
                    return HoldOutcome(approval, "replay", stored.result)
                # Claimed by another caller and still running: wait for record_result.
                deadline = wake_at = give_up_at
            elif approval.state is ApprovalState.SUPERSEDED:
                return HoldOutcome(approval, "superseded", reason=deny_reason(approval, outcome_text(stored.result)))
            else:
                return HoldOutcome(approval, approval.state.value)  # type: ignore[arg-type]
            if loop.time() >= deadline:
                return HoldOutcome(approval, "pending")
            await wait_for_event(changed, wake_at - loop.time())

    def execute_by(self, stored: StoredApproval) -> float | None:
        """When the approved call's execution window ends: `execution_window_seconds` after
        the decision, shortened to the rule's TTL when that is shorter."""
        if stored.decided_at is None:
            return None
        approval = stored.approval
        ttl = approval.expires_at - approval.requested_at
        return stored.decided_at + min(self._settings.execution_window_seconds, ttl)

    async def _executable(self, stored: StoredApproval) -> HoldOutcome:
        """The claimed approval's outcome: "execute", or "superseded" past its window."""
        approval = stored.approval
        execute_by = self.execute_by(stored)
        if execute_by is not None and time.time() > execute_by:
            when = datetime.fromtimestamp(execute_by, UTC).isoformat(timespec="seconds")
            reason = f"approval {approval.approval_id} was not executed within its execution window (ended {when})"
            await self.supersede(approval.approval_id, reason)
            return HoldOutcome(
                dataclasses.replace(approval, state=ApprovalState.SUPERSEDED), "superseded", reason=reason
            )
        return HoldOutcome(approval, "execute")

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
            self._notify(event, approval)
            return
        self._metrics.outcomes.labels(approval.state.value).inc()
        self._metrics.time_to_decision.observe(max(0.0, (stored.decided_at or time.time()) - approval.requested_at))
        if event == "voted":
            self._notify("voted", approval)
            event = "decided"
        self._notify(event, approval)

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

    async def _audit_refused(self, call: ToolCall, reason: str) -> None:
        # No approval was opened, so the record names none: only the call and why.
        refused = {"reason": reason, "requester": principal_to_json(call.principal), "tool": call.qualified_name}
        try:
            await self._audit.append(RecordKind.APPROVAL_REFUSED, refused, call_id=call.call_id)
        except Exception as exc:
            raise ApprovalError("unavailable", f"the audit log is unavailable, nothing was changed: {exc}") from exc

    async def _audit_requested(self, approval: Approval) -> None:
        await self._append(
            RecordKind.APPROVAL_REQUESTED,
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

    async def _audit_gateway_denial(self, before: Approval, after: Approval) -> None:
        await self._audit_vote(after, _BY_GATEWAY)

    async def _audit_vote(self, after: Approval, standing: Standing) -> None:
        vote = after.votes[-1]
        data = {
            "approver": vote.approver,
            "approver_issuer": vote.issuer,
            "approver_tenant": vote.tenant,
            "approver_roles": list(vote.roles),
            "approver_role_held": standing.role,
            "approver_role_via": standing.via,
            "approve": vote.approve,
            "comment": vote.comment,
        }
        await self._append(
            RecordKind.APPROVAL_VOTED,
            after,
            {**data, "approvals": machine.approvals_count(after), "approvals_required": after.approvals_required},
        )
        if after.state is not ApprovalState.PENDING:
            await self._append(RecordKind.APPROVAL_DECIDED, after, data)

    async def _audit_expired(self, before: Approval, after: Approval) -> None:
        await self._append(
            RecordKind.APPROVAL_EXPIRED,
            after,
            {"approver": None, "approve": False, "comment": machine.deny_reason(after), "expires_at": after.expires_at},
        )


def _candidate(call: ToolCall, arguments_digest: str, decision: Decision, ttl: float) -> Approval:
    now = time.time()
    return Approval(
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
        reason=decision.reason,
    )


async def _report(on_progress: ProgressCallback, approval: Approval) -> ProgressCallback | None:
    """Progress is advisory: a failing sender (a gone client) must not end the hold."""
    try:
        await on_progress(approval)
    except Exception:
        log.warning("approval progress callback failed; no more progress for %s", approval.approval_id, exc_info=True)
        return None
    return on_progress
