"""The running gateway: every stage built from the config, started and stopped in order."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import HTTPConnection

from connectors.base import Connector, create_connector
from gateway import __version__
from gateway.audit import AuditLog
from gateway.catalog import Catalog
from gateway.config import GatewayConfig
from gateway.identity import TokenVerifier
from gateway.metrics import Metrics
from gateway.models import Principal, ToolSpec
from gateway.pipeline import Pipeline
from gateway.policy import PolicyHolder, ReloadResult

log = logging.getLogger(__name__)

#: Told "tools", "prompts" or "resources" when what agents may see of that kind has changed.
ListingListener = Callable[[str], Awaitable[None]]
LISTING_KINDS = ("tools", "prompts", "resources")


@dataclass
class Gateway:
    config: GatewayConfig
    metrics: Metrics = field(default_factory=Metrics)
    verifier: TokenVerifier = field(init=False)
    audit: AuditLog = field(init=False)
    policy: PolicyHolder = field(init=False)
    catalog: Catalog = field(init=False)
    pipeline: Pipeline = field(init=False)
    connectors: list[Connector] = field(default_factory=list)
    listing_listeners: list[ListingListener] = field(default_factory=list)
    #: Told the URI of an upstream resource that changed (agents' subscriptions).
    resource_listeners: list[Callable[[str], Awaitable[None]]] = field(default_factory=list)
    _policy_watch: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        # Everything that can be checked without I/O fails here, before the port opens.
        self.verifier = TokenVerifier(self.config.identity, self.config.base_dir)
        self.policy = PolicyHolder.load(self.config.resolve(self.config.policy.directory))
        self.connectors = [create_connector(s) for s in self.config.connectors]
        self.catalog = Catalog(self.connectors)
        for connector in self.connectors:
            if hasattr(connector, "on_listing_changed"):  # upstreams that announce changes (MCP)
                connector.on_listing_changed = functools.partial(self._upstream_listing_changed, connector.name)
            if hasattr(connector, "on_resource_updated"):
                connector.on_resource_updated = self._resource_updated

    async def start(self) -> None:
        self.audit = await AuditLog.open(self.config.audit, base_dir=self.config.base_dir)
        self.pipeline = Pipeline(
            catalog=self.catalog,
            policy=self.policy,
            audit=self.audit,
            metrics=self.metrics,
            timeouts={s.name: s.timeout_seconds for s in self.config.connectors},
        )
        self.metrics.policy_info.info({"version": self.policy.current.version})
        for connector in self.connectors:
            await connector.start()
        await self.catalog.refresh_all()
        await self.audit.append("gateway.started", {"version": __version__, "config_digest": self.config_digest})
        if self.config.policy.watch:
            self._policy_watch = asyncio.create_task(self.policy.watch(self.policy_reloaded), name="policy-watch")
        log.info("gateway started with %d connector(s)", len(self.connectors))

    async def stop(self) -> None:
        if self._policy_watch is not None:
            self._policy_watch.cancel()
            await asyncio.gather(self._policy_watch, return_exceptions=True)
        for connector in self.connectors:
            await connector.close()
        await self.audit.append("gateway.stopped", {"version": __version__, "config_digest": self.config_digest})
        await self.audit.close()

    @property
    def config_digest(self) -> str:
        return hashlib.sha256(repr(self.config).encode()).hexdigest()

    async def record_auth_failure(self, reason: str, conn: HTTPConnection) -> None:
        self.metrics.rejected_requests.labels("unauthenticated").inc()
        client = conn.client.host if conn.client else None
        await self.audit.append("auth.failed", {"reason": reason, "client": client, "path": conn.url.path})

    async def announce(self, *kinds: str) -> None:
        """Tell every listener (the MCP front door's sessions) that listings of `kinds` changed."""
        for kind in kinds:
            for listener in self.listing_listeners:
                try:
                    await listener(kind)
                except Exception:
                    log.exception("listing listener failed for %s", kind)

    async def _resource_updated(self, uri: str) -> None:
        for listener in self.resource_listeners:
            try:
                await listener(uri)
            except Exception:
                log.exception("resource listener failed for %s", uri)

    async def _upstream_listing_changed(self, connector: str, kind: str) -> None:
        if kind == "tools":
            await self.catalog.refresh(connector)
        await self.announce(kind)

    async def policy_reloaded(self, result: ReloadResult) -> None:
        """Record a reload (from the file watcher or an operator) and, if it changed the policy,
        tell agents: what they may list follows the policy."""
        self.metrics.policy_reloads.labels("ok" if result.ok else "refused").inc()
        if not result.ok:
            await self.audit.append("policy.reload_failed", {"version": result.version, "error": result.error})
            return
        if result.changed:
            self.metrics.policy_info.info({"version": result.active_version})
            await self.audit.append("policy.reloaded", {"version": result.version, "files": dict(result.file_hashes)})
            await self.announce(*LISTING_KINDS)

    async def tools_for(self, principal: Principal) -> list[ToolSpec]:
        """The tools `principal` may see, under the policy in force now (every front door's list)."""
        policy = self.policy.current
        return [s for s in await self.catalog.specs() if policy.may_list(principal, s.connector, s.name)]

    async def readiness(self) -> dict[str, Any]:
        backends = {}
        for connector in self.connectors:
            health = await connector.health()
            self.metrics.backend_up.labels(connector.name).set(1 if health.healthy else 0)
            backends[connector.name] = {"healthy": health.healthy, "detail": health.detail}
        return {
            "audit": await self.audit.healthy(),
            "policy": self.policy.current.version,
            "backends": backends,
        }
