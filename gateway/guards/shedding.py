"""Shed load instead of queueing for ever: while the audit writer has more records waiting
than `guards.audit_queue`, new requests on the agents' endpoints are answered 503 with
Retry-After at once, before any work (every call needs audit records, which would only
queue behind the others)."""

from __future__ import annotations

from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.guards.sessions import refusal
from gateway.problems import problem_response
from gateway.runtime import Gateway

#: Paths whose requests lead to audited calls (the MCP and REST front doors).
GOVERNED = ("/mcp", "/v1/")


class LoadShedder:
    def __init__(self, app: ASGIApp, gateway: Gateway) -> None:
        self.app = app
        self._gateway = gateway

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        gateway = self._gateway
        guards = gateway.config.guards
        saturated = gateway.audit.pending >= guards.audit_queue
        if scope["type"] != "http" or not saturated or not scope["path"].startswith(GOVERNED):
            await self.app(scope, receive, send)
            return
        gateway.metrics.guards.load_shed.labels("audit").inc()
        await _overloaded(scope["path"], guards.audit_queue, guards.retry_after_seconds)(scope, receive, send)


def _overloaded(path: str, queue: int, retry_after: int) -> Response:
    message = f"the gateway is overloaded: over {queue} audit records are waiting to be written; retry later"
    if path.startswith("/mcp"):
        return refusal(503, message, retry_after)
    return problem_response(503, "overloaded", message, headers={"Retry-After": str(retry_after)})
