"""Hostile tokens against a running gateway: every one is a 401 (or 403) with a precise
reason and an `auth.failed` audit record; nothing crashes; a flood of unknown kids costs
a handful of JWKS fetches. The issuer is a loopback JWKS whose private key the test holds,
so headers and bytes can be forged at will."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.app import create_app
from gateway.audit import read_records
from gateway.serving import free_port, running
from tests.support.gateway import RunningGateway, gateway_config
from tests.support.jwks_issuer import JwksIssuer, SigningKey, jwks_issuer

SCOPE = "mcp:tools"


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@pytest.fixture
async def issuer() -> AsyncIterator[JwksIssuer]:
    async with jwks_issuer(SigningKey.new("k1"), SigningKey.new("e1", "ES256")) as running_issuer:
        yield running_issuer


@pytest.fixture
async def gateway(issuer: JwksIssuer, tmp_path: Path, policy_dir: Path) -> AsyncIterator[RunningGateway]:
    port = free_port()
    public_url = f"http://127.0.0.1:{port}"
    config = gateway_config(
        tmp_path,
        policy_dir,
        {},
        server={"port": port, "public_url": public_url},
        identity={
            "issuers": [{"issuer": issuer.issuer, "algorithms": ["RS256", "ES256"], "required_scopes": [SCOPE]}],
            "jwks": {"refetch_interval_seconds": 3600},
        },
        # This module counts JWKS fetches and reasons per token: no per-source throttling
        # (tests/guards covers that) between the 300 refused tokens of one address.
        guards={"auth_failures": {"per_source_rate": 10_000, "per_source_burst": 10_000}},
    )
    app = create_app(config)
    async with running(app, port=port) as url:
        yield RunningGateway(url, app, config)


def good_claims(gw: RunningGateway, issuer: JwksIssuer, **changes: Any) -> dict[str, Any]:
    now = int(time.time())
    claims = {
        "iss": issuer.issuer,
        "sub": "agent-h",
        "aud": f"{gw.config.server.public_url}/mcp",
        "iat": now,
        "exp": now + 300,
        "scope": SCOPE,
        "roles": ["tester"],
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def hs256_with_public_key(key: SigningKey, claims: dict[str, Any]) -> str:
    """Algorithm confusion: HMAC keyed with the RSA public key's JWK/PEM text."""
    secret = json.dumps(key.jwk()).encode()
    signing_input = f"{b64(json.dumps({'alg': 'HS256', 'kid': key.kid}))}.{b64(json.dumps(claims))}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


Forge = Callable[[RunningGateway, JwksIssuer], str]


def unsigned(alg: str) -> Forge:
    return lambda gw, i: f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}))}.{b64(json.dumps(good_claims(gw, i)))}."


def signed(header: dict[str, Any] | None = None, key: int = 0, **claims: Any) -> Forge:
    return lambda gw, i: i.keys[key].sign(good_claims(gw, i, **claims), **(header or {}))


def raw(header: str, payload: Callable[[RunningGateway, JwksIssuer], str] | None = None) -> Forge:
    def forge(gw: RunningGateway, i: JwksIssuer) -> str:
        body = payload(gw, i) if payload else json.dumps(good_claims(gw, i))
        return i.keys[0].sign_raw(header.encode(), body.encode())

    return forge


def elsewhere(gw: RunningGateway, i: JwksIssuer) -> str:
    stranger = SigningKey.new("k1")  # same kid, another key
    return stranger.sign(good_claims(gw, i))


def nested(gw: RunningGateway, i: JwksIssuer) -> str:
    inner = i.keys[0].sign(good_claims(gw, i))
    return i.keys[0].sign_raw(json.dumps({"alg": "RS256", "kid": "k1", "cty": "JWT"}).encode(), inner.encode())


def not_json_object(gw: RunningGateway, i: JwksIssuer) -> str:
    return f"{b64('[1,2]')}.{b64('{}')}.sig"


CASES: list[tuple[str, Forge, str]] = [
    ("alg none", unsigned("none"), "unsigned tokens are refused (alg 'none')"),
    ("alg None", unsigned("None"), "unsigned tokens are refused (alg 'None')"),
    ("alg NONE", unsigned("NONE"), "unsigned tokens are refused (alg 'NONE')"),
    ("alg nOnE", unsigned("nOnE"), "unsigned tokens are refused (alg 'nOnE')"),
    ("no alg", raw('{"kid":"k1"}'), "token header names no algorithm"),
    (
        "HS256 keyed with the public key",
        lambda gw, i: hs256_with_public_key(i.keys[0], good_claims(gw, i)),
        "token algorithm 'HS256' is not accepted for issuer",
    ),
    ("kid path traversal", signed({"kid": "../../../../etc/passwd"}), "no key '../../../../etc/passwd' for RS256"),
    ("kid SQL injection", signed({"kid": "x' UNION SELECT 'secret' --"}), "no key \"x' UNION SELECT 'secret' --\""),
    ("kid not a string", raw('{"alg":"RS256","kid":7}'), "token 'kid' must be a string"),
    ("jku header", signed({"jku": "https://attacker.example/jwks"}), "token header carries 'jku'"),
    ("x5u header", signed({"x5u": "https://attacker.example/cert.pem"}), "token header carries 'x5u'"),
    ("jwk header", signed({"jwk": {"kty": "oct", "k": "c2VjcmV0"}}), "token header carries 'jwk'"),
    ("x5c header", signed({"x5c": ["MIIB"]}), "token header carries 'x5c'"),
    ("unknown critical header", signed({"crit": ["exp-ext"], "exp-ext": 1}), "marks ['exp-ext'] critical"),
    ("nested JWT", nested, "nested tokens (cty 'JWT') are refused"),
    ("JWE compact", lambda gw, i: "eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.a.b.c.d", "token is encrypted (JWE)"),
    ("enc header", signed({"enc": "A256GCM"}), "token is encrypted (JWE)"),
    ("oversized", lambda gw, i: signed(padding="x" * 20_000)(gw, i), "token is longer than 16384 bytes"),
    ("wrong iss", signed(iss="https://evil.example"), "token issuer 'https://evil.example' is not a trusted issuer"),
    (
        "iss not a string",
        raw('{"alg":"RS256","kid":"k1"}', lambda gw, i: json.dumps(good_claims(gw, i, iss=["a"]))),
        "token 'iss' claim must be a string",
    ),
    ("wrong aud", signed(aud="https://other.example/api"), "token audience is not one of"),
    ("no aud", signed(aud=None), "token lacks the required 'aud' claim"),
    ("wrong typ", signed({"typ": "dpop+jwt"}), "token type 'dpop+jwt' is not a JWT access token"),
    ("id token typ", signed({"typ": "id_token+jwt"}), "is not a JWT access token"),
    ("expired", signed(exp=int(time.time()) - 3600), "token has expired"),
    ("nbf in the future", signed(nbf=int(time.time()) + 3600), "token is not valid yet"),
    ("no exp", signed(exp=None), "token lacks the required 'exp' claim"),
    (
        "exp not a number",
        raw('{"alg":"RS256","kid":"k1"}', lambda gw, i: json.dumps(good_claims(gw, i, exp="tomorrow"))),
        "token 'exp' claim must be a number",
    ),
    (
        "exp true",
        raw('{"alg":"RS256","kid":"k1"}', lambda gw, i: json.dumps(good_claims(gw, i, exp=True))),
        "token 'exp' claim must be a number",
    ),
    (
        "aud list with an object",
        raw('{"alg":"RS256","kid":"k1"}', lambda gw, i: json.dumps(good_claims(gw, i, aud=[{}]))),
        "token 'aud' claim must be a string or a list of strings",
    ),
    ("iat in the future", signed(iat=int(time.time()) + 3600), "token is not valid yet (iat in the future)"),
    ("no sub", signed(sub=None), "token lacks the required 'sub' claim"),
    ("duplicate alg in header", raw('{"alg":"RS256","kid":"k1","alg":"none"}'), "duplicate 'alg' members"),
    (
        "duplicate iss in payload",
        raw('{"alg":"RS256","kid":"k1"}', lambda gw, i: json.dumps(good_claims(gw, i))[:-1] + ', "iss": "x"}'),
        "duplicate 'iss' members",
    ),
    ("signed by another key with a known kid", elsewhere, "token signature is invalid"),
    (
        "tampered payload",
        lambda gw, i: ".".join(
            [(t := signed()(gw, i)).split(".")[0], b64(json.dumps(good_claims(gw, i, sub="admin"))), t.split(".")[2]]
        ),
        "token signature is invalid",
    ),
    (
        "ES256 token naming the RSA kid",
        lambda gw, i: SigningKey("k1", "ES256", i.keys[1].private).sign(good_claims(gw, i)),
        "key 'k1' of issuer",
    ),
    ("header not an object", not_json_object, "token header is not a JSON object"),
    ("header not base64", lambda gw, i: "%%%.e30.sig", "token header is not base64url-encoded JSON"),
    ("two segments", lambda gw, i: "a.b", "not a well-formed JWT"),
    ("act not an object", signed(act="root"), "token 'act' claim must be an object"),
    ("roles not strings", signed(roles={"admin": True}), "roles claim must be a list of strings"),
    ("missing scope", signed(scope="other"), "lacks the required scope(s) mcp:tools"),
]


async def refused(gw: RunningGateway, token: str) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{gw.url}/mcp", json={}, headers={"Authorization": f"Bearer {token}"})


async def test_the_corpus_is_large_enough() -> None:
    assert len(CASES) >= 30


@pytest.mark.parametrize(("forge", "reason"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_hostile_token_is_refused_with_its_reason(
    gateway: RunningGateway, issuer: JwksIssuer, forge: Forge, reason: str
) -> None:
    response = await refused(gateway, forge(gateway, issuer))
    assert response.status_code == (403 if "scope" in reason else 401)
    assert reason in response.json()["detail"]
    assert "resource_metadata=" in response.headers["www-authenticate"]
    failures = [r.data for r in read_records(gateway.config.audit.database) if r.kind == "auth.failed"]
    assert any(reason in f["reason"] and f["client"] == "127.0.0.1" for f in failures)
    assert issuer.jwks_fetches == 1  # nothing a token says makes the gateway fetch anything


async def test_a_valid_token_passes(gateway: RunningGateway, issuer: JwksIssuer) -> None:
    for key in (0, 1):  # RS256 and ES256
        token = signed(key=key, act={"sub": "assistant", "act": {"sub": "orchestrator"}})(gateway, issuer)
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{gateway.url}/v1/tools", headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 200, response.text


async def test_flood_of_unknown_kids_costs_a_handful_of_fetches(gateway: RunningGateway, issuer: JwksIssuer) -> None:
    tokens = [
        SigningKey(f"flood-{n}", "RS256", issuer.keys[0].private).sign(good_claims(gateway, issuer)) for n in range(300)
    ]
    async with httpx.AsyncClient(limits=httpx.Limits(max_connections=20)) as http:
        responses = await asyncio.gather(
            *(http.post(f"{gateway.url}/mcp", json={}, headers={"Authorization": f"Bearer {t}"}) for t in tokens)
        )
    assert {r.status_code for r in responses} == {401}
    assert all("no key 'flood-" in r.json()["detail"] for r in responses)
    assert issuer.jwks_fetches <= 2
    # Accounted for in the audit log (one record each today; aggregation per source may fold them).
    failures = [r.data for r in read_records(gateway.config.audit.database) if r.kind == "auth.failed"]
    assert failures and all("no key 'flood-" in f["reason"] for f in failures)
