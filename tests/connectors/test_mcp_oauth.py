"""The `mcp` connector signing in to an upstream that requires OAuth, against the real
oidc-provider test IdP and an upstream that checks the IdP's tokens
(tests/support/protected_upstream.py): discovery, client authentication by secret and by
signed assertion, scope from the challenge, step-up, renewal before expiry, and precise
errors and health when the IdP is down, the secret wrong or a scope refused."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.base import BackendError, CallContext
from connectors.mcp import create
from connectors.mcp.oauth import SignInFailed
from connectors.mcp.upstream import McpConnector
from gateway.config import ConfigError, ConnectorSettings, parse_config
from gateway.events import EventBus
from gateway.models import Principal
from tests.support.gateway import SECRET
from tests.support.node_tools import NodeTools
from tests.support.protected_upstream import (
    POSTER,
    READ_SCOPE,
    READER,
    SIGNER_ID,
    SIGNING_PEM,
    WRITE_SCOPE,
    WRITER,
    OAuthBackend,
    ProtectedUpstream,
    oauth_backend,
)

CALLER = CallContext("call-1", Principal("agent-1"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 5.0)
BackendFactory = Callable[..., contextlib.AbstractAsyncContextManager[OAuthBackend]]


@pytest.fixture
def start_backend(node_tools: NodeTools, tmp_path: Path) -> BackendFactory:
    """The IdP and the upstream it protects; `ttl`: lifetime of its access tokens."""
    return lambda ttl=300: oauth_backend(node_tools, tmp_path / "idp", ttl=ttl)


@pytest.fixture
async def backend(start_backend: BackendFactory) -> AsyncIterator[OAuthBackend]:
    async with start_backend() as started:
        yield started


@contextlib.asynccontextmanager
async def signed_in(upstream: ProtectedUpstream, **auth: Any) -> AsyncIterator[McpConnector]:
    options = {"url": upstream.url, "auth": {"kind": "oauth_client_credentials", **auth}}
    connector = create(ConnectorSettings("protected", "mcp", 5.0, options), EventBus())
    await connector.start()
    try:
        yield connector
    finally:
        await connector.close()


async def echo(connector: McpConnector, text: str = "hi") -> str:
    result = await connector.call("echo", {"text": text}, CALLER)
    return str(result.content[0]["text"])


async def test_signs_in_through_discovery_with_the_client_secret(backend: OAuthBackend) -> None:
    idp, upstream = backend
    async with signed_in(upstream, **WRITER, issuer=idp.issuer) as connector:
        assert {t.name for t in await connector.tools()} == {"echo", "add", "sleep"}
        assert await echo(connector) == "hi"
        assert (await connector.health()).healthy
        # The sessions opened side by side waited for one sign-in instead of each making its own.
        assert connector.sign_in is not None and connector.sign_in.tokens_obtained == 1
    # The first request went without a token and was told where the metadata is.
    assert upstream.seen.refusals == [401] and upstream.seen.authorizations[0] == ""
    claims = upstream.seen.accepted[-1]
    assert (claims["client_id"], claims["aud"], claims["iss"]) == (WRITER["client_id"], upstream.url, idp.issuer)
    # Without scopes configured, the challenge's scope is asked for (not all the metadata lists).
    assert claims["scope"] == READ_SCOPE


@pytest.mark.parametrize(
    "auth",
    [
        pytest.param({**POSTER, "token_endpoint_auth_method": "client_secret_post"}, id="client_secret_post"),
        pytest.param({"client_id": SIGNER_ID, "private_key": SIGNING_PEM, "private_key_alg": "ES256"}, id="jwt"),
    ],
)
async def test_other_client_authentication_methods(backend: OAuthBackend, auth: dict[str, Any]) -> None:
    idp, upstream = backend
    async with signed_in(upstream, **auth, issuer=idp.issuer) as connector:
        assert await echo(connector) == "hi"
    assert upstream.seen.accepted[-1]["client_id"] == auth["client_id"]


async def test_a_configured_token_url_wins_over_the_discovered_one(backend: OAuthBackend) -> None:
    idp, upstream = backend
    async with signed_in(upstream, **WRITER, issuer=idp.issuer, token_url=f"{idp.issuer}/elsewhere") as connector:
        with pytest.raises(SignInFailed) as refused:
            await connector.tools()
    assert "token request to /elsewhere refused" in str(refused.value)


async def test_more_scope_is_asked_for_when_the_upstream_says_so(backend: OAuthBackend) -> None:
    idp, upstream = backend
    async with signed_in(upstream, **WRITER, issuer=idp.issuer, scopes=[READ_SCOPE]) as connector:
        result = await connector.call("add", {"a": 2, "b": 3}, CALLER)
        assert result.structured == {"sum": 5}
        assert await echo(connector) == "hi"  # the wider token serves the rest
    assert upstream.seen.refusals == [401, 403]
    assert set(upstream.seen.accepted[-1]["scope"].split()) == {READ_SCOPE, WRITE_SCOPE}


async def test_a_refused_scope_fails_that_call_only(backend: OAuthBackend) -> None:
    idp, upstream = backend
    async with signed_in(upstream, **READER, issuer=idp.issuer) as connector:
        with pytest.raises(BackendError) as refused:
            await connector.call("add", {"a": 2, "b": 3}, CALLER)
        assert not isinstance(refused.value, SignInFailed)
        message = str(refused.value)
        assert "getting more scope failed: token request to /token refused: invalid_scope" in message
        assert f"the upstream answered 403 asking for scope '{READ_SCOPE} {WRITE_SCOPE}'" in message
        assert idp.issuer not in message  # the agent is not told where the IdP lives
        assert await echo(connector) == "hi"
        assert (await connector.health()).healthy


async def test_a_wrong_secret_is_named_in_the_error_and_the_health(backend: OAuthBackend) -> None:
    idp, upstream = backend
    wrong = "not-the-secret-0123456789"
    async with signed_in(upstream, client_id=WRITER["client_id"], client_secret=wrong, issuer=idp.issuer) as connector:
        with pytest.raises(SignInFailed) as refused:
            await connector.tools()
        health = await connector.health()
    message = str(refused.value)
    assert message.startswith("cannot sign in to the upstream MCP server: token request to /token refused: ")
    assert "invalid_client" in message and idp.issuer not in message
    assert not health.healthy and f"token request to {idp.issuer}/token refused: invalid_client" in health.detail
    assert wrong not in str(refused.value) + health.detail
    assert not upstream.seen.accepted


async def _until_shortly_before_expiry(upstream: ProtectedUpstream) -> None:
    """Renewal is due (the last fifth of the token's life) and the token still valid."""
    await asyncio.sleep(upstream.seen.accepted[-1]["exp"] - time.time() - 0.5)


async def test_the_token_is_renewed_before_it_expires(start_backend: BackendFactory) -> None:
    async with start_backend(ttl=8) as (idp, upstream), signed_in(upstream, **WRITER, issuer=idp.issuer) as connector:
        assert await echo(connector) == "hi"
        await _until_shortly_before_expiry(upstream)
        assert await echo(connector, "again") == "again"
        assert connector.sign_in is not None and connector.sign_in.tokens_obtained == 2
    assert upstream.seen.refusals == [401]  # only the very first request went without a token
    assert len({claims["jti"] for claims in upstream.seen.accepted}) == 2


async def test_an_idp_that_goes_down(start_backend: BackendFactory) -> None:
    async with start_backend(ttl=8) as (idp, upstream), signed_in(upstream, **WRITER, issuer=idp.issuer) as connector:
        assert await echo(connector) == "hi"
        idp.process.terminate()
        await idp.process.wait()
        await _until_shortly_before_expiry(upstream)
        # Renewal fails, the current token still serves; the health says what is coming.
        assert await echo(connector) == "hi"
        health = await connector.health()
        assert not health.healthy and f"cannot reach {idp.issuer}/token" in health.detail
        await asyncio.sleep(1.0)  # expired: a new sign-in is needed and cannot be had
        with pytest.raises(SignInFailed) as refused:
            await echo(connector)
    assert "cannot sign in to the upstream MCP server: cannot reach /" in str(refused.value)
    assert idp.issuer not in str(refused.value)


def _problems(auth: dict[str, Any], **stanza: Any) -> tuple[str, ...]:
    connector = {"kind": "mcp", "url": "http://127.0.0.1:1/mcp", "auth": auth, **stanza}
    raw = {"allow_inline_secrets": True, "identity": {"secret": SECRET}, "connectors": {"up": connector}}
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, base_dir=Path("."), environ={})
    return raised.value.problems


CC = {"kind": "oauth_client_credentials", "client_id": "gw"}


@pytest.mark.parametrize(
    ("auth", "stanza", "message"),
    [
        ({**CC}, {}, "connectors.up.auth: give exactly one of client_secret and private_key"),
        ({**CC, "client_secret": "s", "private_key": "k"}, {}, "connectors.up.auth: give exactly one of"),
        ({**CC, "clientsecret": "s"}, {}, "connectors.up.auth.clientsecret: unknown key (did you mean 'client_secret"),
        ({**CC, "kind": "oauth"}, {}, "connectors.up.auth.kind: invalid value 'oauth'"),
        (
            {**CC, "private_key": "k", "token_endpoint_auth_method": "client_secret_basic"},
            {},
            "connectors.up.auth.token_endpoint_auth_method: client_secret_basic needs client_secret, not private_key",
        ),
        (
            {**CC, "client_secret": "s", "token_endpoint_auth_method": "private_key_jwt"},
            {},
            "connectors.up.auth.token_endpoint_auth_method: private_key_jwt needs private_key, not client_secret",
        ),
        ({**CC, "private_key": "k", "private_key_alg": "HS256"}, {}, "connectors.up.auth.private_key_alg: invalid"),
        ({**CC, "client_secret": "s", "scopes": ["a b"]}, {}, "connectors.up.auth.scopes: each scope is one"),
        ({**CC, "client_secret": "s", "issuer": "idp.example"}, {}, "connectors.up.auth.issuer: invalid value"),
        (
            {**CC, "client_secret": "s"},
            {"headers": {"Authorization": "Bearer x"}},
            "connectors.up.headers.Authorization: set by auth: give one or the other",
        ),
    ],
)
def test_bad_auth_config_names_the_key(auth: dict[str, Any], stanza: dict[str, Any], message: str) -> None:
    problems = _problems(auth, **stanza)
    assert any(problem.startswith(message) for problem in problems), problems


def test_a_stdio_server_takes_no_auth() -> None:
    connector = {"kind": "mcp", "command": ["server"], "auth": {**CC, "client_secret": "s"}}
    raw = {"allow_inline_secrets": True, "identity": {"secret": SECRET}, "connectors": {"up": connector}}
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, base_dir=Path("."), environ={})
    assert any(p.startswith("connectors.up.auth: only an upstream reached by url") for p in raised.value.problems)


def test_an_inline_client_secret_is_refused() -> None:
    connector = {"kind": "mcp", "url": "http://127.0.0.1:1/mcp", "auth": {**CC, "client_secret": "literal"}}
    raw = {"identity": {"secret": "${env:S}"}, "connectors": {"up": connector}}
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, base_dir=Path("."), environ={"S": SECRET})
    assert any(p.startswith("connectors.up.auth.client_secret: a secret written into") for p in raised.value.problems)
