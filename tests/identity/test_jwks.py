"""The JWKS cache against a real loopback issuer: Cache-Control within bounds, unknown
kids refetched at most once per interval, keys used only with their algorithm and use,
an unreachable IdP served from cache until the lifetime ends, then refused."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.config import parse_config
from gateway.identity import AuthError, TokenVerifier
from gateway.identity.jwks import JwksCache, cache_lifetime, fetchable
from gateway.identity.settings import JwksSettings
from tests.support.jwks_issuer import JwksIssuer, SigningKey, jwks_issuer

AUDIENCE = "https://gateway.test/mcp"


def claims(issuer: str, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "sub": "agent-9", "aud": AUDIENCE, "iat": now, "exp": now + 300, **extra}


def verifier_for(issuer: JwksIssuer, tmp_path: Path, **jwks: Any) -> TokenVerifier:
    raw = {
        "identity": {
            "issuers": [{"issuer": issuer.issuer, "audiences": [AUDIENCE], "algorithms": ["RS256", "PS256", "ES256"]}],
            "jwks": jwks,
        }
    }
    config = parse_config(raw, base_dir=tmp_path, environ={})
    return TokenVerifier(config.identity, tmp_path)


@pytest.fixture
async def issuer() -> AsyncIterator[JwksIssuer]:
    async with jwks_issuer(SigningKey.new("k1"), SigningKey.new("e1", "ES256")) as running:
        yield running


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("max-age=600", 600.0),
        ("public, max-age=5", 60.0),  # below the lower bound
        ('max-age="999999"', 3600.0),  # above the upper bound
        (None, 900.0),  # no header: the configured default
        ("no-store", 60.0),
        ("private, s-maxage=10", 900.0),
    ],
)
def test_cache_lifetime_stays_within_bounds(header: str | None, seconds: float) -> None:
    settings = JwksSettings(min_cache_seconds=60, max_cache_seconds=3600, default_cache_seconds=900)
    assert cache_lifetime(header, settings) == seconds


def test_only_https_or_loopback_http_is_fetched() -> None:
    assert fetchable("https://login.example.com/keys")
    assert fetchable("http://127.0.0.1:8080/keys") and fetchable("http://localhost/keys")
    assert not fetchable("http://login.example.com/keys")
    assert not fetchable("file:///etc/passwd")


async def test_keys_are_fetched_at_start_and_used_with_their_algorithm_only(issuer: JwksIssuer, tmp_path: Path) -> None:
    verifier = verifier_for(issuer, tmp_path)
    await verifier.issuers.start()
    try:
        assert issuer.jwks_fetches == 1
        assert verifier.issuers.status()[issuer.issuer]["keys"] == ["e1", "k1"]
        rsa_key, ec_key = issuer.keys
        assert (await verifier.verify(rsa_key.sign(claims(issuer.issuer)))).subject == "agent-9"
        assert (await verifier.verify(ec_key.sign(claims(issuer.issuer)))).issuer == issuer.issuer
        # k1 is published for RS256 only: the same RSA key may not verify PS256.
        ps256 = SigningKey("k1", "PS256", rsa_key.private).sign(claims(issuer.issuer))
        with pytest.raises(AuthError, match=r"key 'k1' of issuer .* is for RS256, not PS256"):
            await verifier.verify(ps256)
        # An ES256 token naming the RSA key's kid.
        with pytest.raises(AuthError, match="is for RS256, not ES256"):
            await verifier.verify(SigningKey("k1", "ES256", ec_key.private).sign(claims(issuer.issuer)))
        assert issuer.jwks_fetches == 1
    finally:
        await verifier.issuers.stop()


async def test_encryption_keys_and_keys_without_alg(issuer: JwksIssuer, tmp_path: Path) -> None:
    encryption = SigningKey.new("enc1", use="enc")
    any_rsa = SigningKey.new("open1", publish_alg=False)
    issuer.keys += [encryption, any_rsa]
    verifier = verifier_for(issuer, tmp_path, refetch_interval_seconds=3600)
    await verifier.issuers.start()
    try:
        with pytest.raises(AuthError, match="no key 'enc1' for RS256"):
            await verifier.verify(encryption.sign(claims(issuer.issuer)))
        # A JWK without `alg` serves every algorithm of its key type that the issuer accepts.
        pss = SigningKey("open1", "PS256", any_rsa.private)
        assert (await verifier.verify(pss.sign(claims(issuer.issuer)))).subject == "agent-9"
    finally:
        await verifier.issuers.stop()


async def test_unknown_kids_cost_one_fetch_per_interval(issuer: JwksIssuer, tmp_path: Path) -> None:
    verifier = verifier_for(issuer, tmp_path, refetch_interval_seconds=3600)
    await verifier.issuers.start()
    try:
        strangers = [SigningKey(f"unknown-{i}", "RS256", issuer.keys[0].private) for i in range(500)]
        results = await asyncio.gather(
            *(verifier.verify(k.sign(claims(issuer.issuer))) for k in strangers), return_exceptions=True
        )
        assert all(isinstance(r, AuthError) and "no key 'unknown-" in str(r) for r in results)
        # The start-up fetch plus nothing: the interval had not passed.
        assert issuer.jwks_fetches == 1
    finally:
        await verifier.issuers.stop()


async def test_a_new_kid_is_fetched_once_the_interval_allows(issuer: JwksIssuer, tmp_path: Path) -> None:
    verifier = verifier_for(issuer, tmp_path, refetch_interval_seconds=0.2)
    await verifier.issuers.start()
    try:
        rotated = SigningKey.new("k2")
        issuer.keys.insert(0, rotated)
        await asyncio.sleep(0.25)
        assert (await verifier.verify(rotated.sign(claims(issuer.issuer)))).subject == "agent-9"
        assert issuer.jwks_fetches == 2
    finally:
        await verifier.issuers.stop()


async def test_unreachable_idp_cached_keys_until_lifetime_then_fail_closed(issuer: JwksIssuer) -> None:
    now = [1000.0]
    settings = JwksSettings(min_cache_seconds=10, max_cache_seconds=100, refetch_interval_seconds=1)
    async with httpx.AsyncClient() as client:
        cache = JwksCache(issuer.issuer, None, ["RS256"], settings, client, clock=lambda: now[0])
        assert await cache.refresh()  # max-age=300, clamped to 100 s
        issuer.failing = 503
        now[0] += 90
        assert not await cache.refresh()  # the refresh fails ...
        assert cache.lookup("k1", "RS256") is not None  # ... and the cached key still works
        assert cache.status()["error"].endswith("answered HTTP 503")
        now[0] += 11
        with pytest.raises(
            AuthError, match=r"signing keys of issuer .* are unavailable \(GET .*/jwks answered HTTP 503\)"
        ):
            cache.lookup("k1", "RS256")
        assert not cache.ready
        issuer.failing = None
        assert await cache.refresh()
        assert cache.lookup("k1", "RS256") is not None


async def test_background_refresh_follows_cache_control(issuer: JwksIssuer, tmp_path: Path) -> None:
    issuer.cache_control = "max-age=1"
    verifier = verifier_for(issuer, tmp_path, min_cache_seconds=0, refetch_interval_seconds=3600)
    await verifier.issuers.start()
    try:
        rotated = SigningKey.new("k3")
        issuer.keys.append(rotated)
        async with asyncio.timeout(5):
            while "k3" not in verifier.issuers.status()[issuer.issuer]["keys"]:
                await asyncio.sleep(0.05)
        assert issuer.jwks_fetches >= 2
    finally:
        await verifier.issuers.stop()


async def test_discovery_must_name_the_configured_issuer(tmp_path: Path) -> None:
    async with jwks_issuer(SigningKey.new("k1")) as issuer:
        raw = {"identity": {"issuers": [{"issuer": issuer.url + "/other", "audiences": [AUDIENCE]}]}}
        config = parse_config(raw, base_dir=tmp_path, environ={})
        verifier = TokenVerifier(config.identity, tmp_path)
        await verifier.issuers.start()
        try:
            status = verifier.issuers.status()[issuer.url + "/other"]
            assert not status["ready"]
            assert "answered HTTP 404" in status["error"]
            with pytest.raises(AuthError, match=r"signing keys of issuer .* are unavailable"):
                await verifier.verify(issuer.keys[0].sign(claims(issuer.url + "/other")))
        finally:
            await verifier.issuers.stop()


async def test_an_idp_back_from_an_outage_is_used_before_the_next_background_retry(
    issuer: JwksIssuer, tmp_path: Path
) -> None:
    issuer.failing = 503
    verifier = verifier_for(issuer, tmp_path, refetch_interval_seconds=0.2, retry_seconds=3600)
    await verifier.issuers.start()
    try:
        token = issuer.keys[0].sign(claims(issuer.issuer))
        with pytest.raises(AuthError, match=r"unavailable \(GET .*/jwks answered HTTP 503\)"):
            await verifier.verify(token)
        issuer.failing = None
        with pytest.raises(AuthError, match="unavailable"):  # within the refetch interval: no request
            await verifier.verify(token)
        fetched = issuer.jwks_fetches
        await asyncio.sleep(0.25)
        assert (await verifier.verify(token)).subject == "agent-9"
        assert issuer.jwks_fetches == fetched + 1
    finally:
        await verifier.issuers.stop()
