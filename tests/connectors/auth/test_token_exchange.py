"""RFC 8693 token exchange against the real oidc-provider: the backend gets a token for
itself naming the person and the gateway, cached per caller, one exchange in flight per
caller, and every failure refused precisely, never replaced by another identity."""

from __future__ import annotations

import asyncio
import pickle
import time
from pathlib import Path

import jwt
import pytest

from connectors.auth import TokenExchangeAuth, backend_auth
from connectors.auth.credential import BackendAuth
from gateway.config import ConfigError, parse_config
from gateway.errors import BackendUnavailable, CredentialRefused
from gateway.serving import free_port
from tests.connectors.auth.conftest import (
    AGENT_CLIENT,
    GATEWAY_CLIENT,
    SAP_AUDIENCE,
    context_for,
    exchange_auth,
    person_token,
)
from tests.support.oidc_idp import Idp


def exchanger(idp: Idp, audience: str = SAP_AUDIENCE, **overrides: object) -> BackendAuth:
    return backend_auth(TokenExchangeAuth.model_validate(exchange_auth(idp, audience, **overrides)), "sap", 5.0)


async def test_the_backend_gets_a_token_for_itself_naming_person_and_gateway(idp: Idp, public_url: str) -> None:
    auth = exchanger(idp)
    caller = await person_token(idp, "alice", public_url)
    context = context_for("alice", caller)
    credential = await auth.credential(context)
    assert credential is not None and credential.token is not None
    claims = jwt.decode(credential.token, options={"verify_signature": False})
    assert claims["sub"] == "alice" and claims["aud"] == SAP_AUDIENCE
    assert claims["act"] == {"sub": GATEWAY_CLIENT, "act": {"sub": AGENT_CLIENT}}
    assert credential.token != caller  # the caller's own token never travels on
    assert credential.identity == {
        "kind": "token_exchange",
        "audience": SAP_AUDIENCE,
        "subject": "alice",
        "jti": claims["jti"],
    }
    assert credential.token not in repr(credential)
    await auth.close()


async def test_exchanged_tokens_are_cached_per_caller(idp: Idp, public_url: str) -> None:
    auth = exchanger(idp)
    alice = context_for("alice", await person_token(idp, "alice", public_url))
    bob = context_for("bob", await person_token(idp, "bob", public_url))
    first = await auth.credential(alice)
    assert await auth.credential(alice) == first
    assert await auth.credential(bob) != first
    assert await idp.exchanges() == 2
    await auth.close()


async def test_concurrent_calls_of_one_caller_share_one_exchange(idp: Idp, public_url: str) -> None:
    auth = exchanger(idp)
    alice = context_for("alice", await person_token(idp, "alice", public_url))
    credentials = await asyncio.gather(*(auth.credential(alice) for _ in range(20)))
    assert len({c.token for c in credentials if c is not None}) == 1
    assert await idp.exchanges() == 1
    await auth.close()


async def test_the_cache_is_bounded(idp: Idp, public_url: str) -> None:
    auth = exchanger(idp, cache_size=1)
    alice = context_for("alice", await person_token(idp, "alice", public_url))
    bob = context_for("bob", await person_token(idp, "bob", public_url))
    for context in (alice, bob, alice):
        await auth.credential(context)
    assert await idp.exchanges() == 3  # bob's exchange pushed alice's token out
    await auth.close()


async def test_a_backend_refusal_drops_the_cached_token(idp: Idp, public_url: str) -> None:
    auth = exchanger(idp)
    alice = context_for("alice", await person_token(idp, "alice", public_url))
    first = await auth.credential(alice)
    assert first is not None and auth.rejected(first)
    assert await auth.credential(alice) != first
    assert await idp.exchanges() == 2
    await auth.close()


async def test_no_caller_token_is_refused_not_replaced(idp: Idp) -> None:
    auth = exchanger(idp)
    with pytest.raises(
        CredentialRefused, match=r"acts for the caller \(token exchange\) and this call carries no caller"
    ):
        await auth.credential(context_for("alice", None))
    assert await auth.credential(None) is None  # a health probe presents nothing
    assert await idp.exchanges() == 0
    await auth.close()


async def test_an_expired_caller_token_is_refused_with_when_it_expired(idp: Idp, public_url: str) -> None:
    auth = exchanger(idp)
    caller = await person_token(idp, "alice", public_url)
    expired = context_for("alice", caller, expires_at=time.time() - 1)
    with pytest.raises(CredentialRefused, match=r"caller's token expired at 20\d\d-.*call again with a fresh token"):
        await auth.credential(expired)
    assert await idp.exchanges() == 0
    await auth.close()


@pytest.mark.parametrize(
    ("overrides", "forged", "message"),
    [
        ({}, True, r"refused to exchange the caller's token for audience .* \(HTTP 400 invalid_grant"),
        ({"audience": "https://unknown.example.com"}, False, r"\(HTTP 400 invalid_target: tokens for audience"),
        ({"client_secret": "wrong-secret-0123456789abcdef"}, False, r"\(HTTP 401 invalid_client"),
    ],
    ids=["forged-subject-token", "audience-not-allowed", "wrong-client-secret"],
)
async def test_a_refused_exchange_says_why(
    idp: Idp, public_url: str, overrides: dict[str, str], forged: bool, message: str
) -> None:
    auth = exchanger(idp, **overrides)
    caller = await person_token(idp, "alice", public_url)
    if forged:
        caller = jwt.encode({"iss": idp.issuer, "sub": "alice", "exp": time.time() + 60}, "x" * 32, "HS256")
    with pytest.raises(CredentialRefused, match=message) as refused:
        await auth.credential(context_for("alice", caller))
    assert caller not in str(refused.value)
    await auth.close()


async def test_an_unreachable_identity_provider_is_unavailable(public_url: str) -> None:
    settings = TokenExchangeAuth.model_validate(
        {
            "kind": "token_exchange",
            "token_url": f"http://127.0.0.1:{free_port()}/token",
            "client_id": GATEWAY_CLIENT,
            "client_secret": "s",
            "audience": SAP_AUDIENCE,
        }
    )
    auth = backend_auth(settings, "sap", 2.0)
    with pytest.raises(BackendUnavailable, match=r"identity provider at 127\.0\.0\.1:\d+ could not be reached"):
        await auth.credential(context_for("alice", "a.b.c"))
    await auth.close()


def test_the_callers_token_never_shows() -> None:
    context = context_for("alice", "eyJ.secret-token-value.sig")
    assert context.caller_token is not None
    for shown in (repr(context), str(context), repr(context.caller_token), f"{context.caller_token}"):
        assert "secret-token-value" not in shown
    with pytest.raises(TypeError, match="not serialized"):
        pickle.dumps(context.caller_token)


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        (
            {"kind": "token_exchange", "client_id": "g", "client_secret": "${env:X}", "audience": "a"},
            "auth.token_url: required",
        ),
        (
            {
                "kind": "token_exchange",
                "token_url": "http://i/t",
                "client_id": "g",
                "client_secret": "inline",
                "audience": "a",
            },
            "auth.client_secret: a secret written into the file is refused",
        ),
        (
            {"kind": "saml"},
            "auth.kind: unknown kind 'saml' "
            "(known: basic, bearer, api_key, oauth_client_credentials, token_exchange, mtls)",
        ),
        ({"username": "u"}, "auth.kind: required"),
        (
            {"kind": "oauth_client_credentials", "client_id": "g", "client_secret": "${env:X}"},
            "auth.token_url: required",
        ),
    ],
    ids=["missing-token-url", "inline-secret", "unknown-kind", "no-kind", "client-credentials-without-token-url"],
)
def test_bad_auth_sections_name_the_key(auth: dict[str, object], problem: str, tmp_path: Path) -> None:
    raw = {
        "identity": {"secret": "${env:ID}"},
        "connectors": {"sap": {"kind": "sap", "url": "http://127.0.0.1:1/sap", "auth": auth}},
    }
    with pytest.raises(ConfigError) as raised:
        parse_config(raw, base_dir=tmp_path, environ={"ID": "i" * 40, "X": "x"})
    assert any(p.startswith(f"connectors.sap.{problem}") for p in raised.value.problems), raised.value.problems
