"""A token verified once is remembered until it expires, and no longer than its key is
published; refusals are never remembered."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path

import jwt
import pytest

from gateway.config import IdentitySettings
from gateway.identity import AuthError, TokenVerifier
from gateway.identity import verifier as verifier_module
from tests.identity.test_jwks import claims, verifier_for
from tests.support.jwks_issuer import JwksIssuer, SigningKey, jwks_issuer

SECRET = "unit-test-secret-0123456789-0123456789"


def _token(**overrides: object) -> str:
    now = int(time.time())
    body: dict[str, object] = {"sub": "agent-7", "iss": "agent-gateway", "aud": "agent-gateway", "iat": now}
    return jwt.encode({"exp": now + 60, **body, **overrides}, SECRET, algorithm="HS256")


@pytest.fixture
def signatures(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The algorithm of every signature the verifier checks."""
    checked: list[str] = []
    real = verifier_module.verify_signature

    def counting(token: str, algorithm: str, key: object) -> None:
        checked.append(algorithm)
        real(token, algorithm, key)

    monkeypatch.setattr(verifier_module, "verify_signature", counting)
    return checked


def _local(tmp_path: Path, **settings: object) -> TokenVerifier:
    return TokenVerifier(IdentitySettings(**{"secret": SECRET, **settings}), tmp_path)  # type: ignore[arg-type]


async def test_the_second_call_with_a_token_skips_the_signature(tmp_path: Path, signatures: list[str]) -> None:
    verifier = _local(tmp_path)
    token = _token()
    first = await verifier.verify(token)
    assert await verifier.verify(token) is first
    assert signatures == ["HS256"]
    await verifier.verify(_token(sub="agent-8"))
    assert signatures == ["HS256", "HS256"]


async def test_a_remembered_token_still_expires(
    tmp_path: Path, signatures: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    verifier = _local(tmp_path, leeway_seconds=5)
    now = time.time()
    token = _token(exp=int(now) + 10)
    await verifier.verify(token)
    monkeypatch.setattr(verifier_module.time, "time", lambda: now + 14)  # inside the leeway
    await verifier.verify(token)
    assert signatures == ["HS256"]
    monkeypatch.setattr(verifier_module.time, "time", lambda: now + 16)
    with pytest.raises(AuthError, match="token has expired"):
        await verifier.verify(token)


async def test_refusals_are_not_remembered(tmp_path: Path, signatures: list[str]) -> None:
    verifier = _local(tmp_path)
    forged = jwt.encode(jwt.decode(_token(), options={"verify_signature": False}), "x" * 40, algorithm="HS256")
    for _ in range(2):
        with pytest.raises(AuthError, match="signature is invalid"):
            await verifier.verify(forged)
    assert signatures == ["HS256", "HS256"]


async def test_the_least_recently_used_token_is_forgotten_first(
    tmp_path: Path, signatures: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(verifier_module, "VERIFIED_TOKENS", 2)
    verifier = _local(tmp_path)
    a, b, c = (_token(sub=name) for name in "abc")
    for token in (a, b, a, c):  # c pushes out b, the least recently used
        await verifier.verify(token)
    assert len(signatures) == 3
    await verifier.verify(a)
    assert len(signatures) == 3
    await verifier.verify(b)
    assert len(signatures) == 4


@pytest.fixture
async def issuer() -> AsyncIterator[JwksIssuer]:
    async with jwks_issuer(SigningKey.new("k1")) as running:
        yield running


async def test_a_token_whose_key_the_issuer_withdrew_is_refused(issuer: JwksIssuer, tmp_path: Path) -> None:
    verifier = verifier_for(issuer, tmp_path, min_cache_seconds=0, refetch_interval_seconds=0)
    await verifier.issuers.start()
    try:
        old = issuer.keys[0]
        token = old.sign(claims(issuer.issuer))
        assert (await verifier.verify(token)).subject == "agent-9"
        issuer.keys[:] = [SigningKey.new("k2")]
        keys = verifier.issuers.get(issuer.issuer)
        assert keys is not None and keys.remote is not None
        assert await keys.remote.refresh()
        with pytest.raises(AuthError, match="no key 'k1'"):
            await verifier.verify(token)
    finally:
        await verifier.issuers.stop()
