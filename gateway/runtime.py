"""The running gateway: every stage built from the config by `Gateway.open`, started in
order, and stopped in the reverse order by `Gateway.close`."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from connectors.base import create_connector
from connectors.options import cleartext_warnings
from connectors.resilience import ResilientConnector
from gateway import __version__
from gateway.approvals import ApprovalService
from gateway.audit import AuditLog
from gateway.audit.deferred import DeferredRecords
from gateway.audit.postgres_store import is_postgres_url
from gateway.audit.streaming import AuditStreams
from gateway.auth_gate import Authenticator
from gateway.brakes import Brakes
from gateway.catalog import Catalog
from gateway.config import ApprovalSettings, GatewayConfig
from gateway.events import LISTING_KINDS, EventBus, ListingChanged, PolicyReloaded, ToolsChanged
from gateway.guards.auth_failures import AuthFailures
from gateway.identity import TokenVerifier
from gateway.identity.collector import IssuerCollector
from gateway.identity.metadata import ProtectedResource
from gateway.incident import open_incident_response
from gateway.integrations.runtime import Integrations
from gateway.metrics import Metrics
from gateway.models import Principal, ToolSpec
from gateway.pins.gate import PinError, PinGate
from gateway.pins.postgres_store import PostgresPinStore
from gateway.pins.settings import PINNED_KINDS
from gateway.pins.store import Pin, PinStore, SQLitePinStore
from gateway.pipeline import Pipeline
from gateway.policy import PolicyHolder, ReloadResult
from gateway.policy.shadow import ShadowPolicy
from gateway.ratelimit import RateLimiter
from gateway.readiness import BackendState, Readiness, ReadinessProbe
from gateway.suspensions import SuspensionService
from gateway.telemetry import Telemetry

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Gateway:
    """Everything a running gateway is made of; build it with `await Gateway.open(config)`."""

    config: GatewayConfig
    metrics: Metrics
    events: EventBus
    telemetry: Telemetry
    verifier: TokenVerifier
    resource: ProtectedResource
    authenticate: Authenticator
    policy: PolicyHolder
    connectors: list[ResilientConnector]
    catalog: Catalog
    limiter: RateLimiter
    audit: AuditLog
    approvals: ApprovalService
    integrations: Integrations
    audit_streams: AuditStreams
    pipeline: Pipeline
    #: Tool-definition pins (None when catalog.pinning is off).
    pins: PinGate | None
    #: What /readyz answers: refreshed in the background, never per request.
    probe: ReadinessProbe
    suspensions: SuspensionService
    shadow: ShadowPolicy
    brakes: Brakes
    #: What `close` undoes, last started first.
    _running: contextlib.AsyncExitStack

    @classmethod
    async def open(cls, config: GatewayConfig, metrics: Metrics | None = None) -> Gateway:
        """Check what needs no I/O first (a bad key, policy or connector stanza fails before
        any store opens), then open the stores, start the backends and fetch their tools."""
        metrics = metrics or Metrics()
        events = EventBus()
        verifier = TokenVerifier(config.identity, config.base_dir, config.server.public_url)
        resource = ProtectedResource(config.server.public_url, verifier.issuers)
        metrics.registry.register(IssuerCollector(verifier.issuers))
        telemetry = Telemetry(config.tracing, metrics)
        policy = PolicyHolder.load(config.resolve(config.policy.directory), config.approvals.approver_roles)
        connectors = [create_connector(s, events) for s in config.connectors]
        cleartext = _warn_cleartext(config)
        async with contextlib.AsyncExitStack() as running:
            telemetry.start()
            running.push_async_callback(telemetry.stop)
            await verifier.issuers.start()  # a failed fetch is reported by /readyz, not raised
            running.push_async_callback(verifier.issuers.stop)
            audit, audit_streams, deferred = await _open_audit(config, metrics, running)
            running.push_async_callback(events.close)
            approvals, integrations, incident = await _open_approvals(config, audit, metrics, policy, running)
            limiter = RateLimiter.from_settings(config.limits)
            running.push_async_callback(limiter.close)
            catalog = Catalog(connectors)
            pins = catalog.gate = await _open_pin_gate(config, audit, metrics, policy, events, running)
            gateway = cls(
                config=config,
                metrics=metrics,
                events=events,
                telemetry=telemetry,
                verifier=verifier,
                resource=resource,
                authenticate=_authenticator(config, verifier, resource, telemetry, deferred, metrics, running),
                policy=policy,
                connectors=connectors,
                catalog=catalog,
                limiter=limiter,
                audit=audit,
                approvals=approvals,
                integrations=integrations,
                audit_streams=audit_streams,
                pipeline=Pipeline(
                    catalog=catalog,
                    policy=policy,
                    audit=audit,
                    metrics=metrics,
                    telemetry=telemetry,
                    timeouts={s.name: s.timeout_seconds for s in config.connectors},
                    limiter=limiter,
                    approvals=approvals,
                    argument_limits=config.arguments,
                    **incident,
                ),
                pins=pins,
                probe=_readiness_probe(config, connectors, audit, policy, metrics, verifier, cleartext),
                **incident,
                _running=running,
            )
            await gateway._start_backends()
            gateway._running = running.pop_all()
        return gateway

    async def _start_backends(self) -> None:
        running = self._running
        self.metrics.policy.loaded(self.policy.current.version)
        self.metrics.watch_connectors(self.connectors)
        self.events.subscribe(ToolsChanged, self._refresh_tools)
        self.events.subscribe(PolicyReloaded, self._record_policy_reload)
        for connector in self.connectors:
            await connector.start()
            running.push_async_callback(connector.close)
        await self.catalog.refresh_all()
        await self.probe.start()
        running.push_async_callback(self.probe.stop)
        if self.config.policy.watch:
            watch = asyncio.create_task(
                self.policy.watch(lambda result: self.events.publish(PolicyReloaded(result, "file change"))),
                name="policy-watch",
            )
            running.push_async_callback(_cancelled, watch)
        await self.audit.append("gateway.started", {"version": __version__, "config_digest": self.config_digest})
        running.push_async_callback(
            self.audit.append, "gateway.stopped", {"version": __version__, "config_digest": self.config_digest}
        )
        log.info("gateway started with %d connector(s)", len(self.connectors))

    async def close(self) -> None:
        """Stop everything `open` started, last started first."""
        await self._running.aclose()

    @property
    def config_digest(self) -> str:
        return hashlib.sha256(repr(self.config).encode()).hexdigest()

    async def reload_policy(self, trigger: str) -> ReloadResult:
        """Load the policy files beside the running policy and swap only if they pass every
        check (SIGHUP, the admin endpoint; the file watcher publishes PolicyReloaded)."""
        result = await self.policy.reload_async()
        await self._record_policy_reload(PolicyReloaded(result, trigger))
        return result

    async def _record_policy_reload(self, event: PolicyReloaded) -> None:
        result = event.result
        if result.ok and not result.changed:
            self.metrics.policy.reloaded("unchanged", result.active_version)
            return
        self.metrics.policy.reloaded("success" if result.ok else "failure", result.active_version)
        if result.ok:
            # What agents may list follows the policy: tell them to list again.
            for kind in LISTING_KINDS:
                self.events.publish(ListingChanged(kind))
        await self.audit.append(
            "policy.reloaded" if result.ok else "policy.reload_failed",
            {
                "version": result.version,
                "active_version": result.active_version,
                "files": dict(result.file_hashes),
                "error": result.error,
                "trigger": event.trigger,
            },
        )

    async def _refresh_tools(self, event: ToolsChanged) -> None:
        await self.catalog.refresh(event.connector)
        self.events.publish(ListingChanged("tools"))

    async def approve_definition(self, name: str, reviewer: str, digest: str | None) -> Pin:
        """A reviewer approves a waiting definition: agents see and may call the tool at once."""
        if self.pins is None:
            raise PinError(404, "tool-definition pinning is off (catalog.pinning)")
        pin = await self.pins.approve(name, reviewer, digest)
        await self.catalog.refresh(pin.connector)
        self.events.publish(ListingChanged("tools"))
        return pin

    async def tools_for(self, principal: Principal) -> list[ToolSpec]:
        """The tools `principal` may see, under the policy in force now (every front door's list)."""
        policy = self.policy.current
        return [s for s in await self.catalog.specs() if policy.may_list(principal, s.connector, s.name)]

    def may_need_approval(self, principal: Principal, spec: ToolSpec) -> bool:
        """Whether the policy in force could hold some call of `spec` by `principal` for people."""
        return self.policy.current.may_need_approval(principal, spec.connector, spec.name)

    def readiness(self) -> Readiness:
        """The last background probe's result (see `server.readiness_interval_seconds`)."""
        return self.probe.latest


def _readiness_probe(
    config: GatewayConfig,
    connectors: list[ResilientConnector],
    audit: AuditLog,
    policy: PolicyHolder,
    metrics: Metrics,
    verifier: TokenVerifier,
    cleartext: dict[str, str],
) -> ReadinessProbe:
    """What /readyz answers: each backend's health (with a warning where credentials travel
    in clear), the audit store, the policy in force and the issuers, probed in the
    background every `server.readiness_interval_seconds`."""

    async def check() -> Readiness:
        backends = {}
        for connector in connectors:
            health = await connector.health()
            metrics.backend_up.labels(connector.name).set(1 if health.healthy else 0)
            backends[connector.name] = BackendState(health.healthy, health.detail, cleartext.get(connector.name))
        return Readiness(
            await audit.healthy(),
            policy.current.version,
            backends,
            issuers=verifier.issuers.status(),
            checked_at=time.time(),
        )

    return ReadinessProbe(check, config.server.readiness_interval_seconds)


def _warn_cleartext(config: GatewayConfig) -> dict[str, str]:
    """Backends whose credentials travel unencrypted, logged once at start (and shown by
    /readyz) so the operator sees them without waiting for a security review."""
    cleartext = cleartext_warnings(config.connectors)
    for name, warning in cleartext.items():
        log.warning("connector %s: %s", name, warning)
    return cleartext


async def _open_pin_gate(
    config: GatewayConfig,
    audit: AuditLog,
    metrics: Metrics,
    policy: PolicyHolder,
    events: EventBus,
    running: contextlib.AsyncExitStack,
) -> PinGate | None:
    settings = config.catalog
    if not settings.pinning:
        return None
    pinned = [c.name for c in config.connectors if c.kind in PINNED_KINDS]
    database = settings.database or config.audit.database
    store: PinStore
    if is_postgres_url(database):

        def approved_elsewhere(connector: str | None) -> None:
            # Another replica approved a definition: this one shows (and lets agents call) it too.
            for name in pinned if connector is None else [c for c in pinned if c == connector]:
                events.publish(ToolsChanged(name))

        postgres = store = await PostgresPinStore.open(database, approved_elsewhere)
        running.push_async_callback(postgres.close)
    else:
        store = SQLitePinStore(config.resolve(database))
    return PinGate(
        settings,
        store,
        pinned,
        audit.append,
        metrics.pins,
        lambda connector, tool: policy.current.results.for_definition(connector, tool),
    )


def _approval_settings(config: GatewayConfig) -> ApprovalSettings:
    database = config.approvals.database
    if not is_postgres_url(database):
        database = str(config.resolve(database))
    return config.approvals.model_copy(update={"database": database})


async def _open_audit(
    config: GatewayConfig, metrics: Metrics, running: contextlib.AsyncExitStack
) -> tuple[AuditLog, AuditStreams, DeferredRecords]:
    """The audit log, the SIEM streams that read it, and the writer of records that must not
    make their request wait."""
    audit = await AuditLog.open(config.audit, base_dir=config.base_dir, observer=metrics.audit)
    running.push_async_callback(audit.close)
    streams = AuditStreams.start(config.audit_streaming, audit, metrics.audit_sinks, config.resolve)
    running.push_async_callback(streams.close)
    # A refused token is answered at once; its record follows (or is counted).
    lost = metrics.audit_records_lost
    deferred = DeferredRecords(audit.append, lambda kind: lost.labels(kind).inc())
    running.push_async_callback(deferred.drain)
    return audit, streams, deferred


async def _open_approvals(
    config: GatewayConfig, audit: AuditLog, metrics: Metrics, policy: PolicyHolder, running: contextlib.AsyncExitStack
) -> tuple[ApprovalService, Integrations, dict[str, Any]]:
    """Where people take part: approvals, the channels that tell approvers, and the incident
    response (`suspensions`, `shadow`, `brakes`; suspensions live beside the approvals)."""
    settings = _approval_settings(config)
    approvals = await ApprovalService.open(settings, audit, metrics=metrics.approvals, policy=policy)
    integrations = Integrations(config.integrations, approvals, audit, audit.store, audit.redact)
    # The approval service closes its notifiers (Slack's among them) before the
    # integrations close the Slack client they share.
    running.push_async_callback(integrations.close)
    running.push_async_callback(approvals.close)
    incident = await open_incident_response(config, settings.database, audit, approvals, metrics, running)
    return approvals, integrations, incident


def _authenticator(
    config: GatewayConfig,
    verifier: TokenVerifier,
    resource: ProtectedResource,
    telemetry: Telemetry,
    deferred: DeferredRecords,
    metrics: Metrics,
    running: contextlib.AsyncExitStack,
) -> Authenticator:
    """The identity stage as every front door calls it. Refused tokens: throttled per source,
    then summed per source and reason into few `auth.failed` records, each written without
    making the refusal wait (DeferredRecords)."""

    def counted(outcome: str) -> None:
        metrics.guards.auth_failures.labels(outcome).inc()
        metrics.rejected_requests.labels("unauthenticated").inc()

    failures = AuthFailures(config.guards.auth_failures, deferred.record, counted)
    failures.start()
    running.push_async_callback(failures.close)
    return Authenticator(
        lambda: verifier, failures, observe_seconds=telemetry.observer("identity"), challenge=resource.challenge
    )


async def _cancelled(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
