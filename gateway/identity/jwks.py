"""An issuer's signing keys: fetched from its JWKS at start, cached for as long as its
Cache-Control allows (within configured bounds), refreshed in the background, refetched
at most once per interval when a token names a `kid` the cache does not hold.

Only the configured (or discovered) `jwks_uri` is ever fetched: nothing a token names is.
When the IdP cannot be reached the cached keys keep working until their lifetime ends;
after that every lookup fails with the reason, so calls fail closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from gateway.errors import GatewayError
from gateway.identity.errors import AuthError, KeysUnavailable
from gateway.identity.settings import JwksSettings

log = logging.getLogger(__name__)

#: A JWKS or discovery document larger than this is refused (real ones are a few KiB).
MAX_DOCUMENT_BYTES = 1_048_576
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d+)\"?\s*(?:,|$)", re.IGNORECASE)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})

#: The algorithms a key may serve when its JWK names none, by key type (and curve).
_ALGORITHMS_BY_KEY = {
    ("RSA", None): frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-384"): frozenset({"ES384"}),
    ("EC", "P-521"): frozenset({"ES512"}),
    ("OKP", "Ed25519"): frozenset({"EdDSA"}),
    ("OKP", "Ed448"): frozenset({"EdDSA"}),
}


class FetchError(GatewayError):
    """A discovery or JWKS request failed; the message says how."""


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key and the signature algorithms it may verify."""

    kid: str | None
    key: Any
    algorithms: frozenset[str]


def fetchable(url: str) -> bool:
    """https, or plain http to a loopback address (a local IdP in development and tests)."""
    parts = urlsplit(url)
    return parts.scheme == "https" or (parts.scheme == "http" and (parts.hostname or "") in _LOOPBACK)


def cache_lifetime(cache_control: str | None, settings: JwksSettings) -> float:
    """Seconds to trust a JWKS response: its max-age clamped into the configured bounds."""
    seconds = settings.default_cache_seconds
    if cache_control:
        match = _MAX_AGE.search(cache_control)
        if match:
            seconds = float(match.group(1))
        elif re.search(r"no-cache|no-store", cache_control, re.IGNORECASE):
            seconds = 0.0
    return min(max(seconds, settings.min_cache_seconds), settings.max_cache_seconds)


def _key_algorithms(jwk: Mapping[str, Any], accepted: Collection[str]) -> frozenset[str]:
    if "alg" in jwk:
        named = frozenset({jwk["alg"]}) if isinstance(jwk["alg"], str) else frozenset()
    else:
        kty, crv = str(jwk.get("kty")), jwk.get("crv")
        named = _ALGORITHMS_BY_KEY.get((kty, None if kty == "RSA" else str(crv)), frozenset())
    return named & frozenset(accepted)


def parse_key_set(document: Any, accepted: Collection[str]) -> dict[str | None, VerificationKey]:
    """The signature keys of a JWKS document usable with `accepted` algorithms, by kid.
    Encryption keys, keys for other algorithms and keys that do not parse are left out."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise FetchError("JWKS document has no 'keys' list")
    keys: dict[str | None, VerificationKey] = {}
    for jwk in document["keys"]:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or "d" in jwk:
            continue
        ops = jwk.get("key_ops")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            continue
        algorithms = _key_algorithms(jwk, accepted)
        kid = jwk.get("kid")
        if not algorithms or (kid is not None and not isinstance(kid, str)) or kid in keys:
            continue
        try:
            parsed = jwt.PyJWK(jwk, algorithm=min(algorithms))
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError) as exc:
            log.warning("JWKS key %r skipped: %s", kid, exc)
            continue
        keys[kid] = VerificationKey(kid=kid, key=parsed.key, algorithms=algorithms)
    return keys


async def _get_json(client: httpx.AsyncClient, url: str, timeout: float) -> tuple[Any, httpx.Headers]:
    if not fetchable(url):
        raise FetchError(f"{url} is neither https nor a loopback http URL")
    try:
        response = await client.get(url, timeout=timeout, follow_redirects=False)
    except httpx.HTTPError as exc:
        raise FetchError(f"GET {url} failed: {type(exc).__name__}: {exc}".rstrip(": ")) from None
    if response.status_code != 200:
        raise FetchError(f"GET {url} answered HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise FetchError(f"GET {url} returned more than {MAX_DOCUMENT_BYTES} bytes")
    try:
        return response.json(), response.headers
    except ValueError:
        raise FetchError(f"GET {url} did not return JSON") from None


async def discover_jwks_uri(client: httpx.AsyncClient, issuer: str, timeout: float) -> str:
    """jwks_uri from OpenID Connect discovery, else RFC 8414 metadata; its `issuer` must match."""
    parts = urlsplit(issuer)
    candidates = (
        issuer.rstrip("/") + "/.well-known/openid-configuration",
        f"{parts.scheme}://{parts.netloc}/.well-known/oauth-authorization-server{parts.path.rstrip('/')}",
    )
    errors = []
    for url in candidates:
        try:
            metadata, _ = await _get_json(client, url, timeout)
        except FetchError as exc:
            errors.append(str(exc))
            continue
        if not isinstance(metadata, dict) or metadata.get("issuer") != issuer:
            raise FetchError(f"{url} names issuer {metadata.get('issuer') if isinstance(metadata, dict) else None!r}")
        jwks_uri = metadata.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise FetchError(f"{url} names no jwks_uri")
        return jwks_uri
    raise FetchError("; ".join(errors))


class JwksCache:
    """The keys of one issuer. `lookup` is synchronous (the hot path); `refetch_unknown_kid`
    and the background task do the I/O."""

    def __init__(
        self,
        issuer: str,
        jwks_uri: str | None,
        accepted: Collection[str],
        settings: JwksSettings,
        client: httpx.AsyncClient,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.issuer = issuer
        self.jwks_uri = jwks_uri
        self._accepted = frozenset(accepted)
        self._settings = settings
        self._client = client
        self._clock = clock
        self._keys: dict[str | None, VerificationKey] = {}
        self._expires_at = 0.0
        self._refresh_at = 0.0
        self._last_attempt = -float("inf")
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        #: Every discovery or JWKS request made, for readiness and the benchmark.
        self.fetches = 0
        self.failures = 0
        self.last_error: str | None = None

    async def start(self) -> None:
        """First fetch (a failure is kept for /readyz, not raised), then background refresh."""
        await self.refresh()
        self._task = asyncio.create_task(self._refresh_loop(), name=f"jwks-refresh {self.issuer}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def ready(self) -> bool:
        return bool(self._keys) and self._clock() < self._expires_at

    def status(self) -> dict[str, Any]:
        remaining = self._expires_at - self._clock()
        return {
            "ready": self.ready,
            "keys": sorted(str(k) for k in self._keys) if self.ready else [],
            "expires_in_seconds": round(remaining, 1) if self.ready else 0,
            "jwks_uri": self.jwks_uri,
            "error": self.last_error,
        }

    async def refresh(self) -> bool:
        """Fetch now (single flight); True when fresh keys are held afterwards."""
        async with self._lock:
            return await self._fetch()

    async def refetch_unknown_kid(self) -> bool:
        """For a token whose kid is not cached (or while no keys are held): fetch unless a
        fetch happened within the refetch interval, so a flood of such tokens costs one
        request per interval."""
        async with self._lock:
            if self._clock() - self._last_attempt < self._settings.refetch_interval_seconds:
                return False
            return await self._fetch()

    async def _fetch(self) -> bool:
        self._last_attempt = self._clock()
        self.fetches += 1
        try:
            if self.jwks_uri is None:
                self.jwks_uri = await discover_jwks_uri(self._client, self.issuer, self._settings.fetch_timeout_seconds)
            document, headers = await _get_json(self._client, self.jwks_uri, self._settings.fetch_timeout_seconds)
            keys = parse_key_set(document, self._accepted)
        except FetchError as exc:
            self.failures += 1
            self.last_error = str(exc)
            log.warning("keys of issuer %s not refreshed: %s", self.issuer, exc)
            return False
        lifetime = cache_lifetime(headers.get("cache-control"), self._settings)
        now = self._clock()
        self._keys, self.last_error = keys, None if keys else "JWKS holds no usable signature key"
        self._expires_at = now + lifetime
        # Refresh well before expiry so one failed attempt still leaves time to retry.
        self._refresh_at = now + lifetime * 0.75
        return bool(keys)

    async def _refresh_loop(self) -> None:
        while True:
            failing = self.last_error is not None
            delay = self._settings.retry_seconds if failing else self._refresh_at - self._clock()
            await asyncio.sleep(max(delay, 0.05))
            try:
                await self.refresh()
            except Exception:  # the loop must outlive any surprise; the next round retries
                log.exception("JWKS refresh of %s failed", self.issuer)

    def lookup(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        """The key for a token's kid and alg; None when the kid is unknown (worth one refetch).
        Raises AuthError when the keys have expired or the key does not serve `algorithm`."""
        if not self.ready:
            reason = self.last_error or "no keys fetched yet"
            raise KeysUnavailable(f"signing keys of issuer {self.issuer!r} are unavailable ({reason})")
        if kid is None:
            candidates = [k for k in self._keys.values() if algorithm in k.algorithms]
            if len(candidates) != 1:
                raise AuthError(
                    f"token has no 'kid' and issuer {self.issuer!r} publishes {len(candidates)} {algorithm} keys"
                )
            return candidates[0]
        key = self._keys.get(kid)
        if key is None:
            return None
        if algorithm not in key.algorithms:
            allowed = ", ".join(sorted(key.algorithms))
            raise AuthError(f"key {kid!r} of issuer {self.issuer!r} is for {allowed}, not {algorithm}")
        return key
