"""The 401 gate in front of agent endpoints: verify the bearer JWT, record failures,
and hand the Principal to what is behind it."""

from __future__ import annotations

import math
import time
from collections.abc import Awaitable, Callable

from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.guards.auth_failures import AuthThrottled
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


def challenge(reason: str) -> str:
    """The WWW-Authenticate value for a refused token (RFC 6750), quotes kept out of it."""
    description = reason.replace('"', "'")
    return f'Bearer realm="agent-gateway", error="invalid_token", error_description="{description}"'


def unauthorized(reason: str) -> Response:
    return JSONResponse(
        {"error": "invalid_token", "error_description": reason},
        status_code=401,
        headers={"WWW-Authenticate": challenge(reason)},
    )


def throttled(exc: AuthThrottled) -> Response:
    return JSONResponse(
        {"error": "too_many_requests", "error_description": str(exc)},
        status_code=429,
        headers={"Retry-After": str(math.ceil(exc.retry_after))},
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
    ) -> None:
        self._verifier = verifier
        self._on_failure = on_failure
        #: Told how long each verification took (the identity stage's latency metric).
        self._observe_seconds = observe_seconds

    async def __call__(self, conn: HTTPConnection) -> Principal:
        started = time.perf_counter()
        try:
            return self._verifier().verify(bearer_token(conn.headers))
        except AuthError as exc:
            await self._on_failure(str(exc), conn)
            raise
        finally:
            if self._observe_seconds is not None:
                self._observe_seconds(time.perf_counter() - started)


class BearerAuthGate:
    """ASGI wrapper: only requests with a valid token reach `app`."""

    def __init__(
        self, app: ASGIApp, authenticate: Authenticator, refuse: Callable[[str], Response] = unauthorized
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
        except AuthThrottled as exc:
            await throttled(exc)(scope, receive, send)
            return
        except AuthError as exc:
            await self._refuse(str(exc))(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)
