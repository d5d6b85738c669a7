"""The running gateway: every stage built from the config, started and stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from starlette.requests import HTTPConnection

from connectors.base import Connector, create_connector
from connectors.resilience import unwrap
from gateway import __version__
from gateway.approvals import ApprovalService
from gateway.audit import AuditLog
from gateway.audit.deferred import DeferredRecords
from gateway.audit.postgres_store import is_postgres_url
from gateway.auth_gate import Authenticator
from gateway.catalog import Catalog
from gateway.config import GatewayConfig
from gateway.identity import TokenVerifier
from gateway.metrics import Metrics
from gateway.models import Principal, ToolSpec
from gateway.pipeline import Pipeline
from gateway.policy import PolicyHolder, ReloadResult
from gateway.ratelimit import RateLimiter
from gateway.readiness import BackendState, Readiness, ReadinessProbe
from gateway.telemetry import Telemetry

log = logging.getLogger(__name__)

#: Told "tools", "prompts" or "resources" when what agents may see of that kind has changed.
ListingListener = Callable[[str], Awaitable[None]]
LISTING_KINDS = ("tools", "prompts", "resources")


@dataclass
class Gateway:
    config: GatewayConfig
    metrics: Metrics = field(default_factory=Metrics)
    verifier: TokenVerifier = field(init=False)
    authenticate: Authenticator = field(init=False)
    telemetry: Telemetry = field(init=False)
    audit: AuditLog = field(init=False)
    approvals: ApprovalService = field(init=False)
    policy: PolicyHolder = field(init=False)
    catalog: Catalog = field(init=False)
    pipeline: Pipeline = field(init=False)
    limiter: RateLimiter = field(init=False)
    probe: ReadinessProbe = field(init=False)
    auth_failures: DeferredRecords = field(init=False)
    connectors: list[Connector] = field(default_factory=list)
    listing_listeners: list[ListingListener] = field(default_factory=list)
    #: Told the URI of an upstream resource that changed (agents' subscriptions).
    resource_listeners: list[Callable[[str], Awaitable[None]]] = field(default_factory=list)
    _policy_watch: asyncio.Task[None] | None = None
    _started: bool = False
    _announcements: set[asyncio.Task[None]] = field(default_factory=set, init=False)

    def __post_init__(self) -> None:
        # Everything that can be checked without I/O fails here, before the port opens.
        self.verifier = TokenVerifier(self.config.identity, self.config.base_dir)
        self.telemetry = Telemetry(self.config.tracing, self.metrics)
        self.policy = PolicyHolder.load(
            self.config.resolve(self.config.policy.directory), self.config.approvals.approver_roles
        )
        self.connectors = [create_connector(s) for s in self.config.connectors]
        self.catalog = Catalog(self.connectors)
        for connector in self.connectors:
            # Upstreams that announce changes (MCP): agents are told once the catalog has them.
            if hasattr(connector, "on_tools_changed"):
                connector.on_tools_changed(self._upstream_tools_changed)
            backend = unwrap(connector)
            if hasattr(backend, "on_listing_changed"):
                backend.on_listing_changed = self.announce
            if hasattr(backend, "on_resource_updated"):
                backend.on_resource_updated = self._resource_updated
        self.authenticate = Authenticator(
            lambda: self.verifier, self.record_auth_failure, observe_seconds=self.telemetry.observer("identity")
        )
        self.limiter = RateLimiter.from_settings(self.config.limits)
        self.probe = ReadinessProbe(self._probe, self.config.server.readiness_interval_seconds)

    async def start(self) -> None:
        """Open the store and connect the backends. Idempotent: the CLI starts the gateway
        before serving, to report a bad store as one clear line, and the app's lifespan
        starts it when it runs under any other ASGI server."""
        if self._started:
            return
        self._started = True
        self.telemetry.start()
        self.audit = await AuditLog.open(self.config.audit, base_dir=self.config.base_dir, observer=self.metrics.audit)
        lost = self.metrics.audit_records_lost
        self.auth_failures = DeferredRecords(self.audit.append, lambda kind: lost.labels(kind).inc())
        database = self.config.approvals.database
        if not is_postgres_url(database):
            database = str(self.config.resolve(database))
        approval_settings = self.config.approvals.model_copy(update={"database": database})
        self.approvals = await ApprovalService.open(approval_settings, self.audit, metrics=self.metrics.approvals)
        self.pipeline = Pipeline(
            catalog=self.catalog,
            policy=self.policy,
            audit=self.audit,
            metrics=self.metrics,
            telemetry=self.telemetry,
            timeouts={s.name: s.timeout_seconds for s in self.config.connectors},
            limiter=self.limiter,
            approvals=self.approvals,
        )
        self.metrics.policy_loaded(self.policy.current.version)
        self.metrics.watch_connectors(self.connectors)
        for connector in self.connectors:
            await connector.start()
        await self.catalog.refresh_all()
        await self.probe.start()
        if self.config.policy.watch:
            self._policy_watch = asyncio.create_task(
                self.policy.watch(lambda result: self.record_policy_reload(result, "file change")),
                name="policy-watch",
            )
        await self.audit.append("gateway.started", {"version": __version__, "config_digest": self.config_digest})
        log.info("gateway started with %d connector(s)", len(self.connectors))

    async def stop(self) -> None:
        if not self._started:
            return
        self._started = False
        if self._policy_watch is not None:
            self._policy_watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._policy_watch
        await self.probe.stop()
        for connector in self.connectors:
            await connector.close()
        await self.limiter.close()
        await self.approvals.close()
        await self.auth_failures.drain()
        await self.audit.append("gateway.stopped", {"version": __version__, "config_digest": self.config_digest})
        await self.audit.close()
        await self.telemetry.stop()

    @property
    def config_digest(self) -> str:
        return hashlib.sha256(repr(self.config).encode()).hexdigest()

    async def reload_policy(self, trigger: str) -> ReloadResult:
        """Load the policy files beside the running policy and swap only if they pass every
        check (SIGHUP, the admin endpoint; the file watcher calls record_policy_reload)."""
        result = await self.policy.reload_async()
        await self.record_policy_reload(result, trigger)
        return result

    async def record_policy_reload(self, result: ReloadResult, trigger: str) -> None:
        if result.ok and not result.changed:
            self.metrics.policy_reloaded("unchanged", result.active_version)
            return
        self.metrics.policy_reloaded("success" if result.ok else "failure", result.active_version)
        if result.ok:
            # What agents may list follows the policy: tell them to list again.
            await self.announce(*LISTING_KINDS)
        await self.audit.append(
            "policy.reloaded" if result.ok else "policy.reload_failed",
            {
                "version": result.version,
                "active_version": result.active_version,
                "files": dict(result.file_hashes),
                "error": result.error,
                "trigger": trigger,
            },
        )

    async def announce(self, *kinds: str) -> None:
        """Tell every listener (the MCP front door's sessions) that listings of `kinds` changed."""
        for kind in kinds:
            for listener in self.listing_listeners:
                try:
                    await listener(kind)
                except Exception:
                    log.exception("listing listener failed for %s", kind)

    def _upstream_tools_changed(self, connector: str) -> None:
        async def refresh_then_announce() -> None:
            await self.catalog.refresh(connector)
            await self.announce("tools")

        task = asyncio.get_running_loop().create_task(refresh_then_announce())
        self._announcements.add(task)
        task.add_done_callback(self._announcements.discard)

    async def _resource_updated(self, uri: str) -> None:
        for listener in self.resource_listeners:
            try:
                await listener(uri)
            except Exception:
                log.exception("resource listener failed for %s", uri)

    async def tools_for(self, principal: Principal) -> list[ToolSpec]:
        """The tools `principal` may see, under the policy in force now (every front door's list)."""
        policy = self.policy.current
        return [s for s in await self.catalog.specs() if policy.may_list(principal, s.connector, s.name)]

    async def record_auth_failure(self, reason: str, conn: HTTPConnection) -> None:
        # Recorded without waiting: a bad token is a 401 whatever the audit store's state.
        self.metrics.rejected_requests.labels("unauthenticated").inc()
        client = conn.client.host if conn.client else None
        await self.auth_failures.record("auth.failed", {"reason": reason, "client": client, "path": conn.url.path})

    def readiness(self) -> Readiness:
        """The last background probe's result (see `server.readiness_interval_seconds`)."""
        return self.probe.latest

    async def _probe(self) -> Readiness:
        backends = {}
        for connector in self.connectors:
            health = await connector.health()
            self.metrics.backend_up.labels(connector.name).set(1 if health.healthy else 0)
            backends[connector.name] = BackendState(health.healthy, health.detail)
        audit = await self.audit.healthy()
        return Readiness(audit, self.policy.current.version, backends, checked_at=time.time())
