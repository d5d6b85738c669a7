"""Bounds on what one principal, and everyone together, may hold open on the MCP
endpoint: sessions (the SDK caps the total and expires idle ones; the cap per principal
is kept here) and requests in flight. Past a bound the answer is a JSON-RPC error that
says which bound, with 429 (this principal's) or 503 and Retry-After (the gateway's)."""

from __future__ import annotations

import collections
import json
from dataclasses import dataclass, field

from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.types import INVALID_REQUEST
from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.guards.settings import SessionSettings
from gateway.metrics import Metrics

SESSION_HEADER = "mcp-session-id"
_SESSION_HEADER = SESSION_HEADER.encode()
_VERSION_HEADER = b"mcp-protocol-version"
_HANDSHAKE_VERSIONS = frozenset(v.encode() for v in HANDSHAKE_PROTOCOL_VERSIONS)


def opens_session(scope: Scope) -> bool:
    """A POST the SDK may answer with a new session: one without a session id, on a
    handshake-era protocol version (or none). A 2026-07-28 request is stateless and
    opens nothing, so it is not counted against the principal's sessions."""
    if scope["method"] != "POST":
        return False
    version = None
    for name, value in scope["headers"]:
        if name == _SESSION_HEADER:
            return False
        if name == _VERSION_HEADER and version is None:  # the first, as the SDK routes by
            version = value
    return version is None or version in _HANDSHAKE_VERSIONS


def refusal(status: int, message: str, retry_after: int | None = None) -> Response:
    body = {"jsonrpc": "2.0", "id": None, "error": {"code": INVALID_REQUEST, "message": message}}
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


@dataclass(eq=False)
class SessionQuota:
    """ASGI wrapper between `SessionOwner` (which sets the request's `user`) and the SDK's
    session manager."""

    app: ASGIApp
    manager: StreamableHTTPSessionManager
    settings: SessionSettings
    metrics: Metrics
    retry_after: int
    #: Opening requests not yet answered, per owner: admitted sessions the SDK has not
    #: registered yet count too, so concurrent openings cannot overshoot the cap.
    _opening: collections.Counter[str] = field(default_factory=collections.Counter, init=False)
    _in_flight: collections.Counter[str] = field(default_factory=collections.Counter, init=False)
    _in_flight_total: int = field(default=0, init=False)

    def sessions_of(self, owner: str) -> int:
        # The SDK keeps who opened each live session (and forgets it when the session ends
        # or expires); it has no public count per owner (mcp is pinned below 3).
        held = sum(o["client_id"] == owner for o in self.manager._session_owners.values())
        return held + self._opening[owner]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        user = scope.get("user")
        if scope["type"] != "http" or not isinstance(user, AuthenticatedUser):
            await self.app(scope, receive, send)
            return
        # `SessionOwner` puts the whole principal in the client id (see session_owner).
        owner = user.access_token.client_id
        opening = opens_session(scope)
        refused = self._refusal(owner, opening)
        if refused is not None:
            await refused(scope, receive, send)
            return
        self._opening[owner] += opening
        self._in_flight[owner] += 1
        self._in_flight_total += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self._in_flight_total -= 1
            _decrement(self._in_flight, owner, 1)
            _decrement(self._opening, owner, opening)

    def _refusal(self, owner: str, opening: bool) -> Response | None:
        s = self.settings
        if self._in_flight_total >= s.in_flight_total:
            self.metrics.guards.load_shed.labels("requests_in_flight").inc()
            return refusal(503, f"the gateway is serving {s.in_flight_total} requests; retry later", self.retry_after)
        if self._in_flight[owner] >= s.in_flight_per_principal:
            self.metrics.rejected_requests.labels("in_flight_limit").inc()
            message = f"this principal already has {s.in_flight_per_principal} requests in flight; retry later"
            return refusal(429, message, self.retry_after)
        if opening and self.sessions_of(owner) >= s.per_principal:
            self.metrics.rejected_requests.labels("session_limit").inc()
            message = (
                f"this principal already holds {s.per_principal} open MCP sessions (guards.sessions.per_principal):"
                f" close one (HTTP DELETE) or reuse it; idle ones close after {s.idle_seconds:g} s"
            )
            return refusal(429, message, self.retry_after)
        return None


def _decrement(counter: collections.Counter[str], key: str, by: int) -> None:
    counter[key] -= by
    if counter[key] <= 0:
        del counter[key]
