"""The issuers the gateway trusts, by `iss`: the configured identity providers (keys from
their JWKS) and the local issuer (`identity.secret` / `identity.public_key_file`, the one
`gateway token` mints for).

A token is matched to its issuer by `iss` before any key is looked up; a token from any
other issuer is refused without a single request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from gateway.identity.claims import ClaimsMapping
from gateway.identity.jwks import JwksCache, VerificationKey
from gateway.identity.settings import IssuerSettings, JwksSettings

if TYPE_CHECKING:
    from gateway.config import IdentitySettings

#: The key algorithms each kind of public key can verify.
_PEM_ALGORITHMS: dict[type[Any], frozenset[str]] = {
    rsa.RSAPublicKey: frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}),
    ec.EllipticCurvePublicKey: frozenset({"ES256", "ES384", "ES512"}),
    ed25519.Ed25519PublicKey: frozenset({"EdDSA"}),
    ed448.Ed448PublicKey: frozenset({"EdDSA"}),
}


class KeySource(Protocol):
    def lookup(self, kid: str | None, algorithm: str) -> VerificationKey | None: ...

    async def refetch_unknown_kid(self) -> bool: ...


class StaticKeys:
    """The local issuer's keys: the HS secret and one PEM public key, whatever the kid."""

    def __init__(self, keys: list[VerificationKey]) -> None:
        self._keys = keys

    def lookup(self, kid: str | None, algorithm: str) -> VerificationKey | None:
        return next((k for k in self._keys if algorithm in k.algorithms), None)

    async def refetch_unknown_kid(self) -> bool:
        return False


@dataclass(frozen=True, slots=True)
class Issuer:
    name: str
    audiences: frozenset[str]
    algorithms: frozenset[str]
    claims: ClaimsMapping
    required_scopes: tuple[str, ...]
    keys: KeySource
    #: Fetches the keys over the network (an identity provider, not the local issuer).
    remote: JwksCache | None = None


def _local_keys(settings: IdentitySettings, base_dir: Path) -> list[VerificationKey]:
    keys = []
    if settings.secret is not None:
        hmac = frozenset(a for a in settings.algorithms if a.startswith("HS"))
        keys.append(VerificationKey(kid=None, key=settings.secret.get_secret_value(), algorithms=hmac))
    if settings.public_key_file:
        path = Path(settings.public_key_file)
        public_key = serialization.load_pem_public_key((path if path.is_absolute() else base_dir / path).read_bytes())
        kinds = next((algs for kind, algs in _PEM_ALGORITHMS.items() if isinstance(public_key, kind)), frozenset())
        keys.append(VerificationKey(kid=None, key=public_key, algorithms=kinds & frozenset(settings.algorithms)))
    return keys


def local_issuer(settings: IdentitySettings, base_dir: Path) -> Issuer | None:
    keys = _local_keys(settings, base_dir)
    if not keys:
        return None
    return Issuer(
        name=settings.issuer,
        audiences=frozenset({settings.audience}),
        algorithms=frozenset(settings.algorithms),
        claims=ClaimsMapping(settings.roles_claim, settings.tenant_claim),
        required_scopes=(),
        keys=StaticKeys(keys),
    )


def remote_issuer(
    settings: IssuerSettings, resources: tuple[str, ...], jwks: JwksSettings, client: httpx.AsyncClient
) -> Issuer:
    cache = JwksCache(settings.issuer, settings.jwks_uri, settings.algorithms, jwks, client)
    return Issuer(
        name=settings.issuer,
        audiences=frozenset(settings.audiences or resources),
        algorithms=frozenset(settings.algorithms),
        claims=ClaimsMapping(settings.roles_claim, settings.tenant_claim),
        required_scopes=settings.required_scopes,
        keys=cache,
        remote=cache,
    )


class IssuerRegistry:
    """Every trusted issuer by `iss`; starts and stops their key caches."""

    def __init__(self, issuers: list[Issuer], client: httpx.AsyncClient | None = None) -> None:
        self._by_name = {i.name: i for i in issuers}
        self._client = client

    @classmethod
    def from_settings(cls, settings: IdentitySettings, base_dir: Path, public_url: str | None) -> IssuerRegistry:
        local = local_issuer(settings, base_dir)
        issuers = [local] if local is not None else []
        client = None
        if settings.issuers:
            client = httpx.AsyncClient(headers={"Accept": "application/json"})
            base = public_url.rstrip("/") if public_url else None
            resources = (base, f"{base}/mcp") if base else ()
            issuers += [remote_issuer(s, resources, settings.jwks, client) for s in settings.issuers]
        return cls(issuers, client)

    def get(self, name: str) -> Issuer | None:
        return self._by_name.get(name)

    def __iter__(self) -> Iterator[Issuer]:
        return iter(self._by_name.values())

    @property
    def remote(self) -> list[JwksCache]:
        return [i.remote for i in self if i.remote is not None]

    async def start(self) -> None:
        # Side by side: one unreachable IdP must not delay the others' first fetch.
        await asyncio.gather(*(cache.start() for cache in self.remote))

    async def stop(self) -> None:
        for cache in self.remote:
            await cache.stop()
        if self._client is not None:
            await self._client.aclose()

    def status(self) -> dict[str, dict[str, Any]]:
        """Per identity provider: whether its keys are held (for /readyz)."""
        return {cache.issuer: cache.status() for cache in self.remote}
