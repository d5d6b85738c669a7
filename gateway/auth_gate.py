"""The 401 gate in front of agent endpoints: verify the bearer JWT, record failures,
and hand the Principal to what is behind it."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.identity import AuthError, TokenVerifier, bearer_token
from gateway.models import Principal

#: Key under which the verified Principal travels in the ASGI scope.
PRINCIPAL_SCOPE_KEY = "gateway.principal"

OnAuthFailure = Callable[[str, HTTPConnection], Awaitable[None]]


def principal_of(scope: Scope) -> Principal:
    principal = scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise RuntimeError("request reached an authenticated endpoint without a verified principal")
    return principal


def challenge(exc: AuthError) -> str:
    """The WWW-Authenticate value for a refused token: the one the Authenticator built
    (naming the resource metadata), else a bare RFC 6750 one with quotes kept out of it."""
    if exc.www_authenticate is not None:
        return exc.www_authenticate
    description = str(exc).replace('"', "'")
    return f'Bearer realm="agent-gateway", error="{exc.error or "invalid_token"}", error_description="{description}"'


def unauthorized(exc: AuthError) -> Response:
    return JSONResponse(
        {"error": exc.error or "invalid_token", "error_description": str(exc)},
        status_code=exc.status,
        headers={"WWW-Authenticate": challenge(exc)},
    )


class Authenticator:
    """Turns a request's bearer token into a Principal; every failure is recorded before
    AuthError is raised. Shared by every authenticated endpoint."""

    def __init__(
        self,
        verifier: Callable[[], TokenVerifier],
        on_failure: OnAuthFailure,
        *,
        observe_seconds: Callable[[float], None] | None = None,
        challenge: Callable[[AuthError, HTTPConnection], str] | None = None,
    ) -> None:
        self._verifier = verifier
        self._on_failure = on_failure
        #: Builds the WWW-Authenticate value (it names the protected-resource metadata).
        self._challenge = challenge
        #: Told how long each verification took (the identity stage's latency metric).
        self._observe_seconds = observe_seconds

    async def __call__(self, conn: HTTPConnection) -> Principal:
        started = time.perf_counter()
        try:
            return await self._verifier().verify(bearer_token(conn.headers))
        except AuthError as exc:
            if self._challenge is not None:
                exc.www_authenticate = self._challenge(exc, conn)
            await self._on_failure(str(exc), conn)
            raise
        finally:
            if self._observe_seconds is not None:
                self._observe_seconds(time.perf_counter() - started)


class BearerAuthGate:
    """ASGI wrapper: only requests with a valid token reach `app`."""

    def __init__(
        self, app: ASGIApp, authenticate: Authenticator, refuse: Callable[[AuthError], Response] = unauthorized
    ) -> None:
        self.app = app
        self._authenticate = authenticate
        # Each front door answers a bad token in its own error shape (the REST one: RFC 9457).
        self._refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(HTTPConnection(scope))
        except AuthError as exc:
            await self._refuse(exc)(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)
