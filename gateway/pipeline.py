"""The path of one request: validate, rate-limit, decide, hold, forward, with an audit
record at each transition. Front doors build a ToolCall and hand it to `Pipeline.run` (a
tool call) or `Pipeline.request` (any other kind: a prompt, a resource read or
subscription, a completion, an upstream's sampling or elicitation): the stages, the
refusals, the metrics and the audit records are the same for every kind; only a tool call
may wait for approval. Nothing here knows about MCP or HTTP.

Stages in order: `_admit` (`_validate`, `_limit`, `_decide`, `_enforce`), then `_hold`
(tools only), `_send` (through the connector's resilience wrapper) and `_inspect` (result
rules, on whatever reaches the agent: a tool's result, a prompt, a resource's contents,
completion values; before the outcome record). A tool's result that a `hold` result rule
keeps waits for a reviewer in `_hold_result`, as a held call waits in `_hold`; a retry of
that exact call is answered from the review (`_held_result`) instead of running again. A new check goes in
`_admit`: before the decision beside `_limit` (refusals are recorded as `call.rejected`
with their stage), or after `_enforce`; a check of what came back goes in `_send`, after
the backend answered and before the outcome record.

No audit, no action: the received and decided records are durable before anything is
forwarded, and a failure to write them refuses the call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel

from connectors.base import BackendError, BackendTimeout, BackendUnavailable, BackendUse, CallContext, Connector
from connectors.resilience import ConnectorBusy
from gateway.approvals import ApprovalError, ApprovalService, HoldOutcome
from gateway.approvals.machine import approvals_count, deny_reason
from gateway.approvals.mcp_agent import STATUS_TOOL
from gateway.arguments import ArgumentLimits, ArgumentsOverLimit, check_arguments
from gateway.audit.canonical import CanonicalizationError, canonical_json, sha256_hex
from gateway.brakes import Brakes
from gateway.catalog import Catalog, CatalogEntry
from gateway.dry_run import preview
from gateway.errors import (
    ApprovalDenied,
    ApprovalExpired,
    ApprovalPending,
    ApprovalRequired,
    ApprovalSuperseded,
    AuditFailed,
    BackendBusy,
    BackendFailed,
    CallRefused,
    GatewayError,
    InvalidArguments,
    PolicyDenied,
    RateLimited,
    RateLimitUnavailable,
    ResultWithheld,
    TooManyPendingApprovals,
    UnknownTool,
)
from gateway.identity.claims import principal_record
from gateway.inspect.answers import inspect_answer, inspected_kind
from gateway.inspect.apply import Inspected
from gateway.metrics import Metrics
from gateway.models import (
    Approval,
    ApprovalState,
    AuditRecord,
    Compensation,
    Decision,
    Effect,
    Principal,
    RequestKind,
    ToolCall,
    ToolResult,
)
from gateway.policy import call_context
from gateway.policy.result_select import ResultRuleSelector
from gateway.policy.shadow import ShadowPolicy
from gateway.ratelimit import LimiterUnavailable, RateLimiter
from gateway.relay import Relay, current_relay
from gateway.suspensions import SuspensionService
from gateway.telemetry import Telemetry
from gateway.undo.compensation import compensation_record

log = logging.getLogger(__name__)

T = TypeVar("T")
#: A call held for approval, for a backend that acts for the caller, stops waiting this
#: long before the caller's token expires: it answers "pending", and the agent's retry
#: with a fresh token executes it (an expired token cannot be exchanged).
HELD_TOKEN_MARGIN_SECONDS = 15.0
#: One request to a backend, given the connector inside the resilience wrapper (for
#: sampling and elicitation, which reach the agent, the wrapper itself).
Send = Callable[[Connector], Awaitable[T]]


class AuditSink(Protocol):
    def submit(self, kind: str, data: Mapping[str, Any], call_id: str | None = None) -> asyncio.Future[AuditRecord]: ...

    def redact(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], str]: ...


class PolicySource(Protocol):
    results: ResultRuleSelector

    def decide(
        self,
        principal: Principal,
        connector: str,
        tool: str,
        arguments: Mapping[str, Any],
        context: Mapping[str, Any] | None = None,
    ) -> Decision: ...


class PolicyHolding(Protocol):
    @property
    def current(self) -> PolicySource: ...


class Pipeline:
    def __init__(
        self,
        *,
        catalog: Catalog,
        policy: PolicyHolding,
        audit: AuditSink,
        metrics: Metrics,
        telemetry: Telemetry,
        timeouts: Mapping[str, float],
        limiter: RateLimiter,
        approvals: ApprovalService | None = None,
        argument_limits: ArgumentLimits | None = None,
        suspensions: SuspensionService | None = None,
        shadow: ShadowPolicy | None = None,
        brakes: Brakes | None = None,
    ) -> None:
        self.argument_limits = argument_limits or ArgumentLimits()
        self.catalog = catalog
        self.suspensions = suspensions
        self.shadow = shadow
        self.brakes = brakes
        self.approvals = approvals
        self.limiter = limiter
        self.policy = policy
        self.audit = audit
        self.metrics = metrics
        self.telemetry = telemetry
        self.timeouts = timeouts
        #: The time conditions read (r.ctx.hour, weekday): at admission and again at the
        #: execution of an approved call. Replaceable so tests can cross an office-hours edge.
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    async def run(self, call: ToolCall) -> ToolResult:
        """A tool call: the one kind that may be held for approval."""
        return await self._measured(call, lambda progress: self._run_tool(call, progress))

    async def request(self, call: ToolCall, send: Send[T]) -> T:
        """Any other kind of request: `send` runs once the request is decided and the
        decision durable, and its answer is recorded like a tool's result."""
        return await self._measured(call, lambda progress: self._run_request(call, send, progress))

    async def _run_tool(self, call: ToolCall, progress: _Progress) -> ToolResult:
        entry, decision, arguments_digest = await self._admit(call, progress)
        assert entry is not None, "a tool call is validated against the catalog"
        if call.dry_run:
            return await self._preview(call, entry, decision, arguments_digest)
        kept = await self._held_result(call, arguments_digest)
        if kept is not None:  # this exact call ran already, and its result waits for review
            return await self._collect_result(call, kept)
        held = await self._hold(call, decision, arguments_digest) if decision.effect is Effect.APPROVE else None
        if held is not None and held.action == "replay" and held.result is not None:
            await self._durable(self.audit.submit("call.replayed", _replayed(held.approval), call.call_id))
            return dataclasses.replace(held.result, replay_of_approval=held.approval.approval_id)
        progress.forwarding = True
        if held:
            return await self._forward_held(call, entry, held, decision, arguments_digest)
        return await self._forward(call, entry, decision, arguments_digest)

    async def _run_request(self, call: ToolCall, send: Send[T], progress: _Progress) -> T:
        await self._admit(call, progress)
        progress.forwarding = True
        # Prompts, resources and completions only read: safe to retry (subscribing twice
        # is harmless too); what an agent is asked is never sent twice.
        return await self._send(call, send, read_only=not call.kind.asks_agent)

    async def _measured(self, call: ToolCall, work: Callable[[_Progress], Awaitable[T]]) -> T:
        started = time.perf_counter()
        progress = _Progress()
        outcome = "ok"
        try:
            result = await work(progress)
            if call.dry_run:
                outcome = "dry_run"
            elif isinstance(result, ToolResult) and result.is_error:
                outcome = "tool_error"
            return result
        except CallRefused as refusal:
            outcome = refusal.outcome
            if not progress.forwarding:
                self.metrics.rejected_requests.labels(outcome).inc()
            raise
        finally:
            connector, tool = self._labels(call)
            effect = progress.decision.effect.value if progress.decision else "none"
            self.metrics.tool_calls.labels(connector, tool, effect, outcome).inc()
            self.metrics.call_duration.labels(connector).observe(time.perf_counter() - started)
            if self.brakes is not None:
                self.brakes.observe(call, outcome, self._read_only(call))

    def _read_only(self, call: ToolCall) -> bool:
        """What a brake counts as a write: a tool not marked read-only (other kinds read)."""
        entry = self.catalog.entry(call.qualified_name) if call.kind is RequestKind.TOOL else None
        return entry is None or entry.spec.read_only

    async def replay(self, call: ToolCall, replay_of: str | None) -> None:
        """Admit a request answered from an earlier identical one (an Idempotency-Key
        replay): validated and decided afresh, refused (CallRefused) unless the policy in
        force still allows or approves it, and recorded as `call.replayed`."""
        await self._admit(call, _Progress())  # refuses what the policy in force denies
        replayed = {"source": "idempotency_key", "replay_of": replay_of}
        await self._durable(self.audit.submit("call.replayed", replayed, call.call_id))

    def _labels(self, call: ToolCall) -> tuple[str, str]:
        """(connector, tool) metric labels. Unknown names are folded into one value so agents
        cannot grow the series; other kinds count per connector (`prompts/conn`, tool `*`),
        as their items (URIs above all) are unbounded."""
        if call.kind is RequestKind.TOOL:
            known = self.catalog.entry(call.qualified_name) is not None
            return (call.connector, call.tool) if known else ("unknown", "unknown")
        return (call.policy_connector, "*") if call.connector in self.catalog.connectors else ("unknown", "*")

    async def _admit(self, call: ToolCall, progress: _Progress) -> tuple[CatalogEntry | None, Decision, str]:
        """Validate, decide and enforce the decision, with the received record and the
        decision (or rejection) durable before returning or refusing; also returns the
        digest of the arguments. Both records are queued in order and share one group
        commit, so the audit costs one durable wait per admitted call. Every kind of
        request passes here: a new check before forwarding belongs here."""
        received, arguments_digest = self._submit_received(call)
        stage = "suspension"
        try:
            if self.suspensions is not None:
                self.suspensions.admit(call.principal)
            stage = "validate"
            if isinstance(arguments_digest, InvalidArguments):
                raise arguments_digest
            entry = await self._validate(call)
            stage = "rate_limit"
            await self._limit(call)
            decision = self._decide(call)
        except CallRefused as refusal:
            rejection = {"stage": stage, "reason": refusal.message}
            await self._durable(received, self.audit.submit("call.rejected", rejection, call.call_id))
            raise
        except BaseException:
            received.cancel()
            raise
        await self._durable(received, self.audit.submit("call.decided", _decision_record(decision), call.call_id))
        progress.decision = decision
        if not call.dry_run:  # a preview reports a refusal instead of raising it
            _enforce(call, decision)
        return entry, decision, arguments_digest

    def _submit_received(self, call: ToolCall) -> tuple[asyncio.Future[AuditRecord], str | InvalidArguments]:
        """Queue the received record; returns the digest of the arguments, or the refusal
        when they have no canonical JSON form (and so can be neither recorded nor forwarded)."""
        redacted: dict[str, Any] | None
        arguments_digest: str | InvalidArguments
        try:
            check_arguments(call.arguments, self.argument_limits)  # before anything walks them
            redacted, arguments_digest = self.audit.redact(call.arguments)
        except ArgumentsOverLimit as exc:
            redacted, arguments_digest = None, exc
        except CanonicalizationError as exc:
            reason = f"invalid arguments: {exc} (numbers must fit an IEEE 754 double, text must be UTF-8)"
            redacted, arguments_digest = None, InvalidArguments(reason)
        received = self.audit.submit(
            "call.received",
            {
                "principal": principal_record(call.principal),
                "kind": call.kind.value,
                "connector": call.connector,
                "tool": call.tool,
                "arguments": redacted,
                "arguments_digest": arguments_digest if isinstance(arguments_digest, str) else None,
                "trace_id": call.trace_id,
                "traceparent": call.traceparent,
                "front_door": call.front_door,
                "client": call.client,
                "dry_run": call.dry_run,
                "compensates": call.compensates,
            },
            call.call_id,
        )
        return received, arguments_digest

    async def _validate(self, call: ToolCall) -> CatalogEntry | None:
        """A tool against the catalog (name and schema); other kinds name their connector
        only, and an item the upstream does not have is refused by the decision (default deny)
        or by the upstream, so nothing tells an agent which names exist."""
        with self.telemetry.stage("validate"):
            if call.kind is not RequestKind.TOOL:
                if call.connector not in self.catalog.connectors:
                    raise UnknownTool(f"unknown connector {call.connector!r} in {call.policy_object!r}")
                return None
            entry = await self.catalog.lookup(call.qualified_name)
            self.catalog.validate(entry, call.arguments)
        return entry

    async def _limit(self, call: ToolCall) -> None:
        agent, tool = call.principal.subject, call.policy_object
        try:
            with self.telemetry.stage("rate_limit"):
                limited = await self.limiter.take(agent, tool)
        except LimiterUnavailable as exc:
            raise RateLimitUnavailable(f"{exc}; the call was not forwarded") from None
        if limited is not None:
            raise RateLimited(limited.describe(agent, tool), limited.retry_after)

    def _decide(self, call: ToolCall) -> Decision:
        with self.telemetry.stage("policy"):
            context = call_context(call.principal, call.front_door, self.clock())
            decision = self.policy.current.decide(
                call.principal, call.policy_connector, call.tool, call.arguments, context
            )
        for rule in decision.unevaluable:
            self.metrics.policy.unevaluable_conditions.labels(rule).inc()
        if self.shadow is not None:
            self.shadow.observe(call, decision, context)
        return decision

    async def _hold(self, call: ToolCall, decision: Decision, arguments_digest: str) -> HoldOutcome:
        """Wait for people; returns only when this caller may execute or replay the result."""
        if self.approvals is None:
            raise ApprovalRequired(f"this call {decision.reason}; approvals are not enabled on this gateway")
        max_hold = self.approvals.settings.max_hold_seconds
        wait = max_hold if call.wait_seconds is None else min(call.wait_seconds, max_hold)
        try:
            with self.telemetry.stage("approval_wait"):
                outcome = await self.approvals.hold(
                    call,
                    decision,
                    arguments_digest,
                    wait_seconds=min(wait, self._token_left(call)),
                    on_progress=_progress_to(current_relay()),
                )
        except ApprovalError as exc:
            if exc.kind == "limited":
                raise TooManyPendingApprovals(f"this call {decision.reason}, but {exc.message}") from None
            raise AuditFailed(f"{exc.message}; the call was not held or forwarded") from None
        approval = outcome.approval
        if outcome.action == "pending":
            raise ApprovalPending(
                f"this call {decision.reason}; {_awaiting(approval)};"
                " call the tool again with the same arguments to get the outcome",
                approval.approval_id,
            )
        if outcome.action == "denied":
            raise ApprovalDenied(deny_reason(approval))
        if outcome.action == "expired":
            raise ApprovalExpired(deny_reason(approval))
        if outcome.action == "superseded":
            raise ApprovalSuperseded(outcome.reason or deny_reason(approval))
        if outcome.action == "execute":
            await self._redecide(call, approval)
        return outcome

    def _token_left(self, call: ToolCall) -> float:
        """How long a held call may wait and still run under the caller's own token, for a
        backend that acts for the caller (unbounded for one that does not)."""
        connector = self.catalog.connectors.get(call.connector)
        token = call.caller_token
        if connector is None or not connector.acts_for_caller or token is None or token.expires_at is None:
            return float("inf")
        return max(0.0, token.expires_at - time.time() - HELD_TOKEN_MARGIN_SECONDS)

    async def _redecide(self, call: ToolCall, approval: Approval) -> None:
        """Decide the approved call again under the policy in force now, just before it
        executes; it runs only if that rule still asks for approval and the votes cast
        satisfy its quorum and approver role. The decision names the approval and the votes."""
        assert self.approvals is not None
        decision = self._decide(call)
        recheck = self.approvals.recheck(approval, decision)
        record = {
            **_decision_record(decision),
            "stage": "execution",
            "approval_id": approval.approval_id,
            "votes": [
                {"approver": v.approver, "issuer": v.issuer, "tenant": v.tenant, "roles": list(v.roles)}
                for v in recheck.votes
            ],
        }
        if recheck.refusal is not None:
            reason = f"approval {approval.approval_id} was superseded at execution: {recheck.refusal}"
            record.update(effect="deny", superseded=reason)
            await self._durable(self.audit.submit("call.decided", record, call.call_id))
            await self.approvals.supersede(approval.approval_id, reason)
            raise ApprovalSuperseded(reason)
        await self._durable(self.audit.submit("call.decided", record, call.call_id))

    async def _preview(
        self, call: ToolCall, entry: CatalogEntry, decision: Decision, arguments_digest: str
    ) -> ToolResult:
        """A dry run's report; tools with a backend test run are forwarded as one."""
        simulate = (lambda: self._forward(call, entry, decision, arguments_digest)) if entry.spec.simulates else None
        result, record = await preview(call, decision, simulate)
        await self._durable(self.audit.submit("call.previewed", record, call.call_id))
        return result

    async def _forward_held(
        self, call: ToolCall, entry: CatalogEntry, held: HoldOutcome, decision: Decision, arguments_digest: str
    ) -> ToolResult:
        """Forward the single approved execution and store its result for every retry."""
        approval_id = held.approval.approval_id
        try:
            result = await self._forward(call, entry, decision, arguments_digest, approval_id)
        except CallRefused as refusal:
            await self._record_held(approval_id, ToolResult.text(refusal.message, is_error=True))
            raise
        except BaseException:
            failure = f"the approved call failed inside the gateway (call id {call.call_id})"
            await self._record_held(approval_id, ToolResult.text(failure, is_error=True))
            raise
        await self._record_held(approval_id, result)
        return result

    async def _record_held(self, approval_id: str, result: ToolResult) -> None:
        if self.approvals is not None:
            await self.approvals.record_result(approval_id, result)

    async def _forward(
        self,
        call: ToolCall,
        entry: CatalogEntry,
        decision: Decision,
        arguments_digest: str,
        approval_id: str | None = None,
    ) -> ToolResult:
        context = self._context(call)
        send: Send[ToolResult] = lambda backend: backend.call(entry.spec.name, call.arguments, context)  # noqa: E731
        try:
            return await self._send(
                call,
                send,
                read_only=entry.spec.read_only,
                compensation=entry.spec.compensation,
                approval_id=approval_id,
                backend=context.backend,
            )
        except _ResultHeld as held:
            return await self._hold_result(call, held.inspected, decision, arguments_digest)

    async def _held_result(self, call: ToolCall, arguments_digest: str) -> Approval | None:
        """The approval holding this exact call's result for review, when a `hold` result
        rule applies to the call (the store is read only then) and one is live."""
        if self.approvals is None:
            return None
        rules = self.policy.current.results.for_call(call.principal, call.connector, call.tool)
        if not any(rule.mode == "hold" for rule in rules):
            return None
        return await self.approvals.held_result(call, arguments_digest)

    async def _hold_result(
        self, call: ToolCall, inspected: Inspected, decision: Decision, arguments_digest: str
    ) -> ToolResult:
        """Keep the inspected result from the agent until a reviewer releases or refuses it;
        the agent is told the approval id, as for a held call."""
        assert self.approvals is not None, "_deliver holds a result only when approvals are enabled"
        outcome = inspected.outcome
        reason, rule = outcome.held or "", outcome.held_by or ""
        try:
            approval, created = await self.approvals.keep_result(
                call,
                arguments_digest,
                inspected.result,
                rule=rule,
                reason=reason,
                policy_version=decision.policy_version,
            )
        except ApprovalError as exc:
            if exc.kind == "limited":
                raise TooManyPendingApprovals(f"{reason}, but {exc.message}") from None
            raise AuditFailed(f"{exc.message}; the result was not delivered") from None
        if created:
            held = {"approval_id": approval.approval_id, "rule": rule, "reason": reason}
            await self._durable(self.audit.submit("result.held", held, call.call_id))
        return await self._collect_result(call, approval)

    async def _collect_result(self, call: ToolCall, approval: Approval) -> ToolResult:
        """Wait for the review of a held result as a held call waits for its approval: the
        released result, "pending" with the approval id, or the refusal."""
        assert self.approvals is not None
        max_hold = self.approvals.settings.max_hold_seconds
        with self.telemetry.stage("approval_wait"):
            outcome = await self.approvals.await_decision(
                approval.approval_id,
                wait_seconds=max_hold if call.wait_seconds is None else min(call.wait_seconds, max_hold),
                on_progress=_progress_to(current_relay()),
            )
        approval = outcome.approval
        if outcome.action == "pending":
            raise ApprovalPending(
                f"{approval.reason}; {_awaiting(approval)}; call the tool again with the same arguments"
                f" (or ask {STATUS_TOOL} / GET /v1/calls/{approval.approval_id}) to get it once reviewed",
                approval.approval_id,
            )
        if outcome.action == "replay" and outcome.result is not None:
            await self._durable(
                self.audit.submit("result.released", {"approval_id": approval.approval_id}, call.call_id)
            )
            return dataclasses.replace(outcome.result, replay_of_approval=approval.approval_id)
        reason = f"the result held for review (approval {approval.approval_id}) was refused: {deny_reason(approval)}"
        refused = {"approval_id": approval.approval_id, "state": approval.state.value, "reason": reason}
        await self._durable(self.audit.submit("result.refused", refused, call.call_id))
        raise (ApprovalExpired if approval.state is ApprovalState.EXPIRED else ApprovalDenied)(reason)

    def _context(self, call: ToolCall) -> CallContext:
        timeout = self.timeouts.get(call.connector, 30.0)
        return CallContext(
            call.call_id, call.principal, call.traceparent, timeout, call.dry_run, caller_token=call.caller_token
        )

    async def _send(
        self,
        call: ToolCall,
        send: Send[T],
        *,
        read_only: bool,
        compensation: Compensation | None = None,
        approval_id: str | None = None,
        backend: BackendUse | None = None,
    ) -> T:
        """Forward through the connector's resilience wrapper (deadline, concurrency limit,
        circuit), with the forwarded mark and the outcome in the audit log; the execution
        of an approved call names its approval in both, and the outcome names the identity
        the backend saw (`backend`, filled by the connector)."""
        timeout = self.timeouts.get(call.connector, 30.0)
        held = {"approval_id": approval_id} if approval_id else {}
        # The decision is durable already; the forwarded mark rides the outcome's commit.
        marks = {"dry_run": True} if call.dry_run else {}
        forwarded = self.audit.submit(
            "call.forwarded", {"connector": call.connector, "tool": call.tool, **marks, **held}, call.call_id
        )
        stage = self.telemetry.stage("backend", call.traceparent)
        error: str | None = None
        answer: tuple[Any, bool] | None = None
        outcome: T | None = None
        inspected: tuple[T, Inspected] | None = None
        try:
            with stage:
                request = self._reach(call, send, read_only, timeout)
                # A suspension arriving while the backend works cancels the request.
                guard = self.suspensions
                result = await (request if guard is None else guard.forward(call.principal, request))
            outcome = result
            answer = _answer(result)
            inspected = self._inspect(call, result)
        except BackendTimeout:
            error = f"backend {call.connector!r} did not answer within {timeout:g} s"
            raise BackendFailed(error, timed_out=True) from None
        except ConnectorBusy as exc:
            self.metrics.guards.load_shed.labels("backend").inc()
            error = f"backend {call.connector!r} is busy: {exc}"
            raise BackendBusy(error, retry_after=1.0) from None
        except BackendUnavailable as exc:
            error = f"backend {call.connector!r} is unavailable: {exc}"
            raise BackendFailed(error) from None
        except BackendError as exc:
            error = f"backend {call.connector!r} failed: {exc}"
            raise BackendFailed(error) from None
        except Exception as exc:  # e.g. the agent could not be asked: recorded, passed on
            error = str(exc) or type(exc).__name__
            raise
        finally:
            undo = _compensation(call, compensation, outcome)
            used = {"backend_identity": dict(backend.identity)} if backend and backend.identity else {}
            # The outcome names the approval too, beside how to undo the call.
            done = inspected[1] if inspected is not None else None
            recorded = {**undo, **held, **used}
            await self._record_outcome(call, forwarded, answer, error, stage.seconds, recorded, done)
        return _deliver(call, result, inspected, holds=self.approvals is not None)

    def _inspect(self, call: ToolCall, answer: T) -> tuple[T, Inspected] | None:
        """Result rules for this caller and request, applied to what the backend answered
        before anything reaches the agent: a tool's result, a prompt, a resource's contents,
        completion values (gateway.inspect.answers). Rules name the request as the policy
        does (`sap.search_vendors`, `prompts/conf.greet`, `resources/conf.URI`); the
        delivered answer and what the rules did are returned."""
        if not inspected_kind(call.kind):
            return None
        with self.telemetry.stage("inspect"):
            rules = self.policy.current.results.for_call(call.principal, call.policy_connector, call.tool)
            delivered, inspected = inspect_answer(call.kind, rules, answer)
        self.metrics.inspect.observe(call.policy_connector, inspected.outcome)
        return delivered, inspected

    async def _reach(self, call: ToolCall, send: Send[T], read_only: bool, timeout: float) -> T:
        connector = self.catalog.connectors[call.connector]
        if not call.kind.asks_agent:
            return await connector.send(send, timeout=timeout, read_only=read_only, what=call.policy_object)
        # The agent is asked, not the backend: not through the backend's wrapper, whose slot
        # the asking upstream call already holds, and whose circuit the agent's answer says
        # nothing about; under the same deadline.
        try:
            async with asyncio.timeout(timeout):
                return await send(connector)
        except TimeoutError:
            raise BackendFailed(f"the agent did not answer within {timeout:g} s", timed_out=True) from None

    async def _record_outcome(
        self,
        call: ToolCall,
        forwarded: asyncio.Future[AuditRecord],
        answer: tuple[Any, bool] | None,
        error: str | None,
        latency: float,
        undo: Mapping[str, Any],
        inspected: Inspected | None = None,
    ) -> None:
        data: dict[str, Any] = {"status": "error", "latency_ms": round(latency * 1000, 3), "error": error, **undo}
        if answer is not None:
            encoded = canonical_json(answer[0])
            data.update(
                status="error" if answer[1] else "ok",
                result_digest=sha256_hex(encoded),
                result_bytes=len(encoded),
            )
            if inspected is not None:
                data.update(inspected.record(data["result_digest"]))
        # The backend has acted: a failure to record the outcome cannot undo that, so it
        # is logged loudly instead of hiding the result from the agent.
        try:
            await self._durable(forwarded, self.audit.submit("call.completed", data, call.call_id))
        except AuditFailed:
            log.critical("audit: the outcome of call %s could not be recorded", call.call_id)

    async def _durable(self, *pending: asyncio.Future[AuditRecord]) -> None:
        try:
            with self.telemetry.stage("audit"):
                # In the order queued, not gather: the writer commits in that order, so this
                # waits no longer, and builds no gathering future per call.
                for record in pending:
                    await record
        except Exception:
            for record in pending:  # one failure fails the rest: read them, so none is reported unread
                record.add_done_callback(_read_failure)
            log.exception("audit append failed")
            raise AuditFailed("the audit log is unavailable, so the call was not forwarded") from None


def _read_failure(record: asyncio.Future[AuditRecord]) -> None:
    if not record.cancelled():
        record.exception()


def _decision_record(decision: Decision) -> dict[str, Any]:
    return {
        "effect": decision.effect.value,
        "rule": decision.rule,
        "reason": decision.reason,
        "policy_version": decision.policy_version,
        "approvals_required": decision.approvals_required,
        "approver_role": decision.approver_role,
        "unevaluable": list(decision.unevaluable),
    }


def _replayed(approval: Approval) -> dict[str, Any]:
    return {"source": "approval", "approval_id": approval.approval_id}


def _enforce(call: ToolCall, decision: Decision) -> None:
    """Refuse what the policy denies (the reason names the rule), and an approve decision
    for a request that cannot wait for people."""
    if decision.effect is Effect.DENY:
        raise PolicyDenied(decision.reason)
    if decision.effect is Effect.APPROVE and call.kind is not RequestKind.TOOL:
        raise ApprovalRequired(f"this call {decision.reason}; a {call.kind.value} request cannot wait for approval")


class _ResultHeld(GatewayError):
    """A `hold` result rule matched: `_forward` opens the review (never reaches a front door)."""

    def __init__(self, inspected: Inspected) -> None:
        super().__init__(inspected.outcome.held)
        self.inspected = inspected


def _deliver(call: ToolCall, result: T, inspected: tuple[T, Inspected] | None, *, holds: bool) -> T:
    """What the agent gets: the inspected answer, a refusal naming the rule that withheld
    it, or (`_ResultHeld`) a tool's result to keep for review, when `holds` (approvals are on)."""
    if inspected is None:
        return result
    delivered, done = inspected
    outcome = done.outcome
    if outcome.withheld is not None:
        raise ResultWithheld(outcome.withheld)
    if outcome.held is not None:
        if call.kind is not RequestKind.TOOL:
            why = f"a {call.kind.value} answer cannot wait for review"
        elif call.dry_run:
            why = "a test run is not held"
        elif not holds:
            why = "approvals are not enabled"
        else:
            raise _ResultHeld(done)
        raise ResultWithheld(f"{outcome.held}; it is withheld, as no review can release it ({why})")
    return delivered


@dataclass
class _Progress:
    """How far one request got, for its metrics."""

    decision: Decision | None = None
    forwarding: bool = False


def _answer(result: object) -> tuple[Any, bool]:
    """What a backend answered, as (JSON to digest, is an error); a subscription answers None."""
    if isinstance(result, ToolResult):
        return [dict(c) for c in result.content], result.is_error
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json", by_alias=True, exclude_none=True), False
    return result, False


def _awaiting(approval: Approval) -> str:
    return f"awaiting approval {approvals_count(approval)} of {approval.approvals_required} (id {approval.approval_id})"


def _progress_to(relay: Relay | None) -> Callable[[Approval], Awaitable[None]] | None:
    """Approval votes as MCP progress ("awaiting approval N of M (id ...)")."""
    if relay is None:
        return None

    async def report(approval: Approval) -> None:
        await relay.progress(float(approvals_count(approval)), float(approval.approvals_required), _awaiting(approval))

    return report


def _compensation(call: ToolCall, compensation: Compensation | None, result: object) -> dict[str, Any]:
    """What would take a successful write back (undo), for its outcome record; a test run
    changed nothing."""
    if compensation is None or call.dry_run or not isinstance(result, ToolResult):
        return {}
    record = compensation_record(call.connector, compensation, call.arguments, result)
    return {} if record is None else {"compensation": record}
