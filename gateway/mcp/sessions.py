"""The MCP connections agents hold open, as the front door needs to know them: whose
they are (a session serves only the principal that opened it), to tell them when what
they may see has changed, to pass on updates of resources they subscribed to, and to
filter relayed log messages by the level each asked for."""

from __future__ import annotations

import json
import logging
import weakref

from cachetools import LRUCache
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser
from mcp.server.auth.provider import AccessToken
from mcp.server.connection import Connection
from mcp.server.session import ServerSession
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.auth_gate import principal_of
from gateway.identity import bearer_token
from gateway.models import Principal

log = logging.getLogger(__name__)

#: MCP log levels, least severe first (RFC 5424 order).
LOG_LEVELS: tuple[str, ...] = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_CHANGED = {
    "tools": Connection.send_tool_list_changed,
    "prompts": Connection.send_prompt_list_changed,
    "resources": Connection.send_resource_list_changed,
}


def session_owner(principal: Principal) -> str:
    """Who may use a session: issuer, subject, tenant and client together. A token of the
    same subject in another tenant, or issued to another client, is somebody else."""
    return json.dumps([principal.issuer, principal.subject, principal.tenant, principal.client])


class SessionOwner:
    """ASGI wrapper in front of the SDK's session manager, which binds each session to the
    `user` of the request that opened it and answers any other with 404 (as if the session
    did not exist). The SDK compares (client_id, issuer, subject): the whole principal goes
    into the client id, so all four must match.

    The user is built once per token (an agent sends the same one with every call) and
    remembered for the most recent `REMEMBERED` tokens."""

    REMEMBERED = 4096

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._users: LRUCache[str, tuple[Principal, AuthenticatedUser]] = LRUCache(self.REMEMBERED)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope["user"] = self._user(bearer_token(Headers(scope=scope)), principal_of(scope))
        await self.app(scope, receive, send)

    def _user(self, token: str, principal: Principal) -> AuthenticatedUser:
        known = self._users.get(token)
        if known is not None and (known[0] is principal or known[0] == principal):
            return known[1]
        user = AuthenticatedUser(
            AccessToken(
                token=token,
                client_id=session_owner(principal),
                scopes=list(principal.roles),
                subject=principal.subject,
                claims={"iss": principal.issuer},
            )
        )
        self._users[token] = (principal, user)
        return user


def connection_of(session: ServerSession) -> Connection:
    # SDK 2.x builds a ServerSession per request around one Connection per client: the
    # connection is what lives as long as the agent's session does (mcp is pinned below 3).
    return session._connection


class AgentSessions:
    """The MCP connections agents hold open: to tell them when what they may see has
    changed, which resources they subscribed to, and the log level each asked for."""

    def __init__(self) -> None:
        self._levels: weakref.WeakKeyDictionary[Connection, str] = weakref.WeakKeyDictionary()
        self._subscribers: dict[str, weakref.WeakSet[Connection]] = {}

    def seen(self, session: ServerSession) -> None:
        self._levels.setdefault(connection_of(session), "debug")

    def set_level(self, session: ServerSession, level: str) -> None:
        self._levels[connection_of(session)] = level

    def wants(self, session: ServerSession, level: str) -> bool:
        threshold = self._levels.get(connection_of(session), "debug")
        return LOG_LEVELS.index(level) >= LOG_LEVELS.index(threshold) if level in LOG_LEVELS else True

    def subscribe(self, session: ServerSession, uri: str) -> bool:
        """Record a subscription; True when it is the first to `uri` (subscribe upstream)."""
        subscribers = self._subscribers.setdefault(uri, weakref.WeakSet())
        first = not subscribers
        subscribers.add(connection_of(session))
        return first

    def unsubscribe(self, session: ServerSession, uri: str) -> bool:
        """Forget a subscription; True when none is left for `uri` (unsubscribe upstream)."""
        return self._forget(connection_of(session), uri)

    def _forget(self, connection: Connection, uri: str) -> bool:
        subscribers = self._subscribers.get(uri)
        if subscribers is None:
            return False
        subscribers.discard(connection)
        if subscribers:
            return False
        del self._subscribers[uri]
        return True

    async def resource_updated(self, uri: str) -> None:
        for connection in list(self._subscribers.get(uri, ())):
            try:
                await connection.send_resource_updated(uri)
            except Exception as exc:
                log.debug("resource update not delivered to a session: %s", exc)
                self._forget(connection, uri)

    async def announce(self, kind: str) -> None:
        """`notifications/{kind}/list_changed` to every open connection (dead ones are forgotten)."""
        send = _CHANGED[kind]
        for connection in list(self._levels):
            try:
                await send(connection)
            except Exception as exc:  # a closed stream: nothing to tell
                log.debug("list_changed not delivered to a session: %s", exc)
                self._levels.pop(connection, None)
