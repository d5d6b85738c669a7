"""Incident response as the gateway runs it: the kill switch (suspensions), the automatic
brakes that use it, and the shadow policy; opened with the stores, stopped with them."""

from __future__ import annotations

import contextlib
from typing import Any

from gateway.approvals import ApprovalService
from gateway.audit import AuditLog
from gateway.brakes import Brakes
from gateway.config import GatewayConfig
from gateway.metrics import Metrics
from gateway.policy.shadow import ShadowPolicy
from gateway.suspensions import SuspensionService


async def open_incident_response(
    config: GatewayConfig,
    database: str,
    audit: AuditLog,
    approvals: ApprovalService,
    metrics: Metrics,
    running: contextlib.AsyncExitStack,
) -> dict[str, Any]:
    """`suspensions`, `shadow` and `brakes`, as both the Gateway and the Pipeline take them.
    Suspensions live beside the approvals (`database`); closing settles brakes first."""
    suspensions = await SuspensionService.open(database, audit, approvals, metrics.incident)
    running.push_async_callback(suspensions.close)
    brakes = Brakes(config.brakes, metrics.incident)
    brakes.attach(suspensions)
    running.push_async_callback(brakes.settle)
    return {"suspensions": suspensions, "shadow": ShadowPolicy(metrics.incident), "brakes": brakes}
