"""JWT verification: every accepted algorithm, every rejected token, with its reason."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gateway.config import IdentitySettings
from gateway.identity import AuthError, TokenVerifier, bearer_token

SECRET = "unit-test-secret-0123456789-0123456789"


def _claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "sub": "agent-7",
        "iss": "agent-gateway",
        "aud": "agent-gateway",
        "iat": now,
        "exp": now + 60,
        "roles": ["procurement-agent", "tester"],
        "tenant": "acme",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def _hs256_by_hand(claims: dict[str, object], key: bytes) -> str:
    """pyjwt refuses to sign with a PEM as HMAC secret; an attacker's script would not."""
    encode = jwt.utils.base64url_encode
    signing_input = (
        encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + encode(json.dumps(claims).encode())
    )
    signature = encode(hmac.new(key, signing_input, hashlib.sha256).digest())
    return (signing_input + b"." + signature).decode()


def _verifier(tmp_path: Path, **settings: object) -> TokenVerifier:
    return TokenVerifier(IdentitySettings(**{"secret": SECRET, **settings}), tmp_path)  # type: ignore[arg-type]


async def test_hs256_token_becomes_a_principal(tmp_path: Path) -> None:
    principal = await _verifier(tmp_path).verify(jwt.encode(_claims(), SECRET, algorithm="HS256"))
    assert principal.subject == "agent-7"
    assert principal.roles == ("procurement-agent", "tester")
    assert principal.tenant == "acme"
    assert principal.issuer == "agent-gateway"


@pytest.mark.parametrize(
    ("algorithm", "private_key"),
    [
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ],
)
async def test_public_key_algorithms(tmp_path: Path, algorithm: str, private_key) -> None:  # type: ignore[no-untyped-def]
    pem = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "issuer.pem").write_bytes(pem)
    verifier = TokenVerifier(IdentitySettings(algorithms=(algorithm,), public_key_file="issuer.pem"), tmp_path)
    assert (await verifier.verify(jwt.encode(_claims(), private_key, algorithm=algorithm))).subject == "agent-7"
    # Algorithm confusion: an HS256 token keyed with the public key text is refused outright.
    forged = _hs256_by_hand(_claims(), pem)
    with pytest.raises(AuthError, match="algorithm 'HS256' is not accepted for issuer 'agent-gateway'"):
        await verifier.verify(forged)


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"exp": -120}, "token has expired"),
        ({"nbf": 600}, "not valid yet"),
        ({"aud": "someone-else"}, "audience is not one of agent-gateway"),
        ({"iss": "evil"}, "issuer 'evil' is not a trusted issuer"),
        ({"exp": None}, "lacks the required 'exp' claim"),
        ({"sub": None}, "lacks the required 'sub' claim"),
        ({"sub": ""}, "'sub' claim must be a non-empty string"),
        ({"roles": {"admin": True}}, "roles claim must be a list of strings"),
    ],
)
async def test_rejected_claims_say_why(tmp_path: Path, overrides: dict[str, object], reason: str) -> None:
    # Times are offsets from now, taken when the test runs, not when it was collected.
    now = int(time.time())
    claims = _claims(**{k: now + v if k in ("exp", "nbf") and isinstance(v, int) else v for k, v in overrides.items()})
    with pytest.raises(AuthError, match=reason):
        await _verifier(tmp_path).verify(jwt.encode(claims, SECRET, algorithm="HS256"))


async def test_small_clock_skew_is_tolerated(tmp_path: Path) -> None:
    token = jwt.encode(_claims(exp=int(time.time()) - 5), SECRET, algorithm="HS256")
    assert (await _verifier(tmp_path, leeway_seconds=30).verify(token)).subject == "agent-7"
    with pytest.raises(AuthError, match="expired"):
        await _verifier(tmp_path, leeway_seconds=0).verify(token)


async def test_unsigned_and_garbled_tokens(tmp_path: Path) -> None:
    unsigned = jwt.encode(_claims(), None, algorithm="none")  # type: ignore[arg-type]
    with pytest.raises(AuthError, match="unsigned tokens are refused"):
        await _verifier(tmp_path).verify(unsigned)
    with pytest.raises(AuthError, match="not a well-formed JWT"):
        await _verifier(tmp_path).verify("a.b")
    tampered = jwt.encode(_claims(), SECRET, algorithm="HS256")[:-4] + "AAAA"
    with pytest.raises(AuthError, match="signature is invalid"):
        await _verifier(tmp_path).verify(tampered)


async def test_roles_as_a_space_separated_string_and_custom_claims(tmp_path: Path) -> None:
    token = jwt.encode(_claims(roles=None, scope="a b,c", org="globex"), SECRET, algorithm="HS256")
    principal = await _verifier(tmp_path, roles_claim="scope", tenant_claim="org").verify(token)
    assert principal.roles == ("a", "b", "c")
    assert principal.tenant == "globex"


async def test_minted_tokens_verify(tmp_path: Path) -> None:
    verifier = _verifier(tmp_path)
    principal = await verifier.verify(verifier.mint("ops", ("gateway-admin",), tenant="acme", ttl_seconds=30))
    assert (principal.subject, principal.roles, principal.tenant) == ("ops", ("gateway-admin",), "acme")


def test_bearer_header_parsing() -> None:
    assert bearer_token({"authorization": "Bearer abc.def.ghi"}) == "abc.def.ghi"
    assert bearer_token({"authorization": "bearer   abc"}) == "abc"
    for headers, reason in [({}, "missing bearer token"), ({"authorization": "Token abc"}, "malformed")]:
        with pytest.raises(AuthError, match=reason):
            bearer_token(headers)


async def test_a_local_ec_key_is_not_used_for_another_curve(tmp_path: Path) -> None:
    p256 = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / "issuer.pem").write_bytes(
        p256.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    verifier = TokenVerifier(IdentitySettings(algorithms=("ES256", "ES384"), public_key_file="issuer.pem"), tmp_path)
    p384_token = jwt.encode(_claims(), ec.generate_private_key(ec.SECP384R1()), algorithm="ES384")
    with pytest.raises(AuthError, match="key cannot check a ES384 signature"):
        await verifier.verify(p384_token)
