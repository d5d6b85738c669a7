"""Who may reach an endpoint: the bearer JWT is verified (401 otherwise, failures
recorded), and `requires_role` admits only callers with one of an endpoint's roles (403
otherwise). The answers themselves are built in `gateway.problems`."""

from __future__ import annotations

import functools
import inspect
import time
from collections.abc import Awaitable, Callable, Iterable

from starlette.datastructures import Headers
from starlette.requests import HTTPConnection, Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from gateway.errors import AuthError, Problem
from gateway.identity import TokenVerifier, bearer_token
from gateway.models import CallerToken, Principal
from gateway.problems import forbidden, forbidden_text, from_problem, unauthorized

#: Key under which the verified Principal travels in the ASGI scope.
PRINCIPAL_SCOPE_KEY = "gateway.principal"

OnAuthFailure = Callable[[str, HTTPConnection], Awaitable[None]]
#: Turns a request into its caller, or raises AuthError (an `Authenticator`, or a plain
#: function in tests that serve one API on its own).
Authorize = Callable[[Request], Principal | Awaitable[Principal]]
Endpoint = Callable[[Request], Awaitable[Response]]


def principal_of(scope: Scope) -> Principal:
    principal = scope.get(PRINCIPAL_SCOPE_KEY)
    if not isinstance(principal, Principal):
        raise RuntimeError("request reached an authenticated endpoint without a verified principal")
    return principal


def caller_token_of(scope: Scope) -> CallerToken:
    """The bearer token an authenticated request was verified with, wrapped so that it is
    never printed; a connector with `token_exchange` auth exchanges it, nothing else reads it."""
    expires_at = principal_of(scope).claims.get("exp")
    return CallerToken(
        bearer_token(Headers(scope=scope)), float(expires_at) if isinstance(expires_at, int | float) else None
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


def holds_role(principal: Principal, roles: Iterable[str]) -> bool:
    """Whether the caller holds one of `roles` (any caller when none is named)."""
    wanted = set(roles)
    return not wanted or bool(wanted & set(principal.roles))


def requires_role(*roles: str, authenticate: Authorize) -> Callable[[Endpoint], Endpoint]:
    """Starlette's `requires`, for the gateway's roles: the decorated endpoint runs only for
    a caller `authenticate` accepts (401 otherwise) who holds one of `roles` (any caller when
    none is named; 403 otherwise). The endpoint finds the caller with `principal_of`; a
    `Problem` it raises becomes its problem+json answer."""
    needed = tuple(sorted(set(roles)))
    return requires(lambda principal: holds_role(principal, needed), forbidden_text(needed), authenticate=authenticate)


def requires(
    admits: Callable[[Principal], bool], refusal: str, *, authenticate: Authorize
) -> Callable[[Endpoint], Endpoint]:
    """The guard behind `requires_role`, for endpoints whose admission is more than a role
    (the approvals API resolves approver roles per tenant): `admits(principal)` or 403
    with `refusal`."""

    def decorate(endpoint: Endpoint) -> Endpoint:
        @functools.wraps(endpoint)
        async def guarded(request: Request) -> Response:
            try:
                principal = authenticate(request)
                if inspect.isawaitable(principal):
                    principal = await principal
            except AuthError as exc:
                return unauthorized(exc)
            if not admits(principal):
                return forbidden(refusal)
            request.scope[PRINCIPAL_SCOPE_KEY] = principal
            try:
                return await endpoint(request)
            except Problem as problem:
                return from_problem(problem)

        return guarded

    return decorate


class BearerAuthGate:
    """ASGI wrapper for the MCP endpoint: only requests with a valid token reach `app`."""

    def __init__(self, app: ASGIApp, authenticate: Authenticator) -> None:
        self.app = app
        self._authenticate = authenticate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(HTTPConnection(scope))
        except AuthError as exc:
            await unauthorized(exc)(scope, receive, send)
            return
        scope[PRINCIPAL_SCOPE_KEY] = principal
        await self.app(scope, receive, send)
