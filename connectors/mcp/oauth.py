"""Signing in to an upstream MCP server as an OAuth client (client credentials, no person).

The SDK's providers (`mcp.client.auth.extensions.client_credentials`) do the protocol: RFC
9728 protected-resource metadata (from the 401's `resource_metadata`, else the well-known
paths), RFC 8414 / OpenID metadata of the authorization server, its issuer checked, the
resource indicator (RFC 8707), the scope chosen from the challenge or the metadata and
widened on `403 insufficient_scope`, and the client authenticated by `client_secret_basic`,
`client_secret_post` or a signed assertion (`private_key_jwt`, RFC 7523).

They are not used as the HTTP client's `auth` directly: the SDK flow holds one lock from
before a request is sent until its answer arrives, so an upstream answering in JSON mode
gets one call at a time (measured: 4 concurrent 1 s calls took 4.0 s instead of 1.1 s).
`UpstreamSignIn` puts the current token on each request without a lock and runs the SDK
flow (on its own HTTP client) only to answer a challenge, or to renew a token shortly
before it expires. What goes wrong is worded once, for the caller whose request it was
(`sign_in_problems`) and, when no token can be had at all, for the connector's health.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
import logging
import re
import time
import warnings
from collections.abc import AsyncGenerator
from types import TracebackType
from typing import Literal, Self

import httpx2
from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import (
    ClientCredentialsOAuthProvider,
    PrivateKeyJWTOAuthProvider,
    SignedJWTParameters,
)
from mcp.client.auth.utils import extract_field_from_www_auth
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken
from mcp.shared.exceptions import MCPDeprecationWarning
from pydantic import ValidationError

from connectors.mcp.options import OAuthClientCredentials
from connectors.tls import client_context
from gateway.config import reveal
from gateway.errors import BackendUnavailable

log = logging.getLogger(__name__)


def _quiet_sdk_failure(record: logging.LogRecord) -> bool:
    # The SDK logs each failed flow with a traceback; UpstreamSignIn words it once itself.
    return record.getMessage() != "OAuth flow error"


logging.getLogger("mcp.client.auth.oauth2").addFilter(_quiet_sdk_failure)

#: What went wrong signing in for the request being sent (set by the connector per call).
sign_in_problems: contextvars.ContextVar[list[str] | None] = contextvars.ContextVar("mcp_sign_in", default=None)
#: Where a server lives: shown to operators (health, log), left out of what agents are told.
_ORIGIN = re.compile(r"https?://[^/\s]+")
#: After a failed renewal the current token serves this long before renewal is tried again;
#: after a failed sign-in, requests are refused with its reason this long without trying.
RETRY_SECONDS = 5.0
_TIMEOUT = httpx2.Timeout(10.0)


class SignInFailed(BackendUnavailable):
    """No token could be had from the authorization server (or the upstream refused it)."""


class MemoryTokens:
    """The SDK's token storage, in memory only: a token never touches a disk."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None
        #: Tokens obtained so far (a renewal shows as one more).
        self.obtained = 0

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.obtained += 1

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class _ConfiguredTokenEndpoint(OAuthClientProvider):
    """A token endpoint given in the config wins over the discovered one."""

    token_url: str | None = None

    def _get_token_endpoint(self) -> str:
        return self.token_url or super()._get_token_endpoint()


class _SecretClient(_ConfiguredTokenEndpoint, ClientCredentialsOAuthProvider):
    #: No method in the config: use the secret the way the server's metadata says it takes it.
    adopt_method = False

    async def _exchange_token_client_credentials(self) -> httpx2.Request:
        metadata, client = self.context.oauth_metadata, self.context.client_info
        supported = (metadata.token_endpoint_auth_methods_supported if metadata is not None else None) or []
        usable = [m for m in ("client_secret_basic", "client_secret_post") if m in supported]
        if self.adopt_method and client is not None and usable and client.token_endpoint_auth_method not in usable:
            self.context.client_info = client.model_copy(update={"token_endpoint_auth_method": usable[0]})
        return await super()._exchange_token_client_credentials()


class _KeyClient(_ConfiguredTokenEndpoint, PrivateKeyJWTOAuthProvider):
    pass


def sdk_provider(server_url: str, options: OAuthClientCredentials, storage: MemoryTokens) -> OAuthClientProvider:
    """The SDK provider for these credentials."""
    scope = " ".join(options.scopes) or None
    provider: _SecretClient | _KeyClient
    # Without an issuer the SDK warns that the upstream picks where the credentials go;
    # the connector says so itself, once, in its own words (UpstreamSignIn).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        if options.private_key is not None:
            signer = SignedJWTParameters(
                issuer=options.client_id,
                subject=options.client_id,
                signing_key=reveal(options.private_key) or "",
                signing_algorithm=options.private_key_alg,
            )
            provider = _KeyClient(
                server_url,
                storage,
                options.client_id,
                signer.create_assertion_provider(),
                scope=scope,
                issuer=options.issuer,
            )
        else:
            method: Literal["client_secret_basic", "client_secret_post"] = (
                "client_secret_post" if options.method == "client_secret_post" else "client_secret_basic"
            )
            secret = reveal(options.client_secret) or ""
            provider = _SecretClient(
                server_url, storage, options.client_id, secret, method, scope=scope, issuer=options.issuer
            )
            provider.adopt_method = options.token_endpoint_auth_method is None
    provider.token_url = options.token_url
    return provider


def _challenge(response: httpx2.Response) -> bool:
    """Whether the upstream asks for a (better) token: 401, or 403 insufficient_scope."""
    if response.status_code == 401:
        return True
    return response.status_code == 403 and extract_field_from_www_auth(response, "error") == "insufficient_scope"


def _refusal(response: httpx2.Response) -> str:
    """An OAuth error answer (RFC 6749 5.2) in a few words."""
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        detail = body.get("error_description")
        return f"{body['error']} ({detail})" if isinstance(detail, str) and detail else body["error"]
    return f"HTTP {response.status_code}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, SignInFailed):
        return str(exc)
    if isinstance(exc, httpx2.RequestError):
        url = exc.request.url.copy_with(query=None)
        return f"cannot reach {url} ({type(exc).__name__}: {exc})" if str(exc) else f"cannot reach {url}"
    if isinstance(exc, ValidationError):
        return f"the authorization server's answer is not valid OAuth metadata or token ({exc.error_count()} errors)"
    return str(exc) or type(exc).__name__


class UpstreamSignIn(httpx2.Auth):
    """The `auth` of the connector's HTTP client: the gateway's own token on every request."""

    def __init__(self, server_url: str, options: OAuthClientCredentials) -> None:
        self._storage = MemoryTokens()
        self._provider = sdk_provider(server_url, options, self._storage)
        self._renew_before = options.refresh_before_seconds
        self._tls = client_context(options.tls)
        self._lock = asyncio.Lock()
        self._http: httpx2.AsyncClient | None = None
        self._renew_after = 0.0
        self._sign_in_after = 0.0
        #: Why the last sign-in failed, until one succeeds (for operators: the connector's health).
        self.failure: str | None = None
        if options.issuer is None:
            log.warning(
                "MCP upstream %s: auth.issuer is not set, so the client credentials go to whichever "
                "authorization server the upstream's metadata names",
                server_url,
            )

    @property
    def tokens_obtained(self) -> int:
        return self._storage.obtained

    async def __aenter__(self) -> Self:
        self._http = httpx2.AsyncClient(timeout=_TIMEOUT, verify=self._tls)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    def _token(self) -> str | None:
        tokens = self._provider.context.current_tokens
        return tokens.access_token if tokens is not None else None

    def _renewal_due(self) -> bool:
        context = self._provider.context
        tokens, expiry = context.current_tokens, context.token_expiry_time
        if tokens is None or tokens.expires_in is None or expiry is None or context.oauth_metadata is None:
            return False
        if time.monotonic() < self._renew_after:
            return False
        return time.time() >= expiry - min(self._renew_before, tokens.expires_in / 5)

    def _stamp(self, request: httpx2.Request) -> str | None:
        token = self._token()
        if token is not None:
            request.headers["Authorization"] = f"Bearer {token}"
        return token

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        # While one request renews the token, the others go on with the current one.
        if self._renewal_due() and not self._lock.locked():
            await self._renew()
        sent_with = self._stamp(request)
        response = yield request
        if not _challenge(response):
            return
        await response.aread()
        if await self._answer(request, response, sent_with):
            self._stamp(request)
            retried = yield request
            if _challenge(retried):
                # Refused outright (401), no token works: that is the connector's state.
                refused = f"the upstream refused the new token too{_asked(retried)}"
                self._note(refused, everyone=retried.status_code == 401)

    async def _renew(self) -> None:
        async with self._lock:
            if not self._renewal_due():
                return  # renewed while this request waited for the lock
            try:
                token_request = await self._provider._perform_authorization()
                await self._provider._handle_token_response(await self._send(token_request))
            except Exception as exc:
                self._renew_after = time.monotonic() + RETRY_SECONDS
                log.warning("renewing the token for the MCP upstream failed: %s", _reason(exc))
                self._note(f"renewing the access token failed: {_reason(exc)}", everyone=True)
                return
            self.failure = None

    async def _answer(self, request: httpx2.Request, challenge: httpx2.Response, sent_with: str | None) -> bool:
        """Sign in (again, or with more scope) as the challenge asks; False when that failed."""
        async with self._lock:
            current = self._token()
            if current is not None and current != sent_with:
                return True  # another request signed in while this one waited
            step_up = challenge.status_code == 403
            if not step_up and self.failure and time.monotonic() < self._sign_in_after:
                self._note(self.failure, everyone=True)  # failed a moment ago: not again yet
                return False
            asked_before = self._provider.context.client_metadata.scope
            try:
                await self._sdk_flow(request, challenge)
            except Exception as exc:
                # The SDK widened the scope it asks for before the refusal: renewals would
                # ask for the refused scope too and fail with it.
                self._provider.context.client_metadata.scope = asked_before
                problem = f"{_reason(exc)}{_asked(challenge)}"
                log.warning("signing in to the MCP upstream failed: %s", problem)
                if not step_up:
                    self._sign_in_after = time.monotonic() + RETRY_SECONDS
                self._note(f"getting more scope failed: {problem}" if step_up else problem, everyone=not step_up)
                return False
            self.failure = None
            return True

    async def _sdk_flow(self, request: httpx2.Request, challenge: httpx2.Response) -> None:
        """The SDK's flow for `request`, answered with `challenge`, its own requests sent
        here, until it would send `request` again with the new token."""
        flow = self._provider.async_auth_flow(request)
        answered = False
        try:
            outgoing = await flow.__anext__()
            while True:
                if outgoing is request:
                    if answered:
                        return
                    answered, response = True, challenge
                else:
                    response = await self._send(outgoing)
                outgoing = await flow.asend(response)
        except StopAsyncIteration:
            raise SignInFailed("the sign-in ended without a token") from None
        finally:
            await flow.aclose()

    async def _send(self, request: httpx2.Request) -> httpx2.Response:
        """A discovery or token request; a refused token request is worded from its answer."""
        assert self._http is not None, "the sign-in is used inside its connector session"
        response = await self._http.send(request)
        if b"grant_type=" in request.content and response.status_code >= 400:
            raise SignInFailed(f"token request to {request.url} refused: {_refusal(response)}")
        return response

    @property
    def failure_for_agents(self) -> str | None:
        """`failure` without the servers' addresses."""
        return None if self.failure is None else _ORIGIN.sub("", self.failure)

    def _note(self, problem: str, *, everyone: bool) -> None:
        """`problem` for the caller whose request this was (without addresses), and
        (`everyone`) for the health."""
        if everyone:
            self.failure = problem
        problems = sign_in_problems.get()
        if problems is not None:
            problems.append(_ORIGIN.sub("", problem))


def _asked(response: httpx2.Response) -> str:
    """What the upstream's challenge asked for, as the end of a message."""
    scope = extract_field_from_www_auth(response, "scope")
    return f"; the upstream answered {response.status_code}" + (f" asking for scope {scope!r}" if scope else "")
