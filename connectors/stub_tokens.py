"""What a backend stub does with a token the gateway obtained by exchange (RFC 8693): the
signature is checked against the identity provider's published keys (found through its
discovery document), then issuer, audience and expiry. Shared by the SAP, ORDS and CICS
stubs, which then apply the named user's own authorizations.

    tokens = StubTokens(issuer="https://idp", audience="https://sap.example/sap")
    claims = await tokens.verify(token)     # raises TokenRejected with the reason
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import jwt

from gateway.errors import InvalidInput


class TokenRejected(InvalidInput):
    """The token is not one this backend accepts; the message says why (never the token)."""


class StubTokens:
    def __init__(self, issuer: str, audience: str, algorithms: tuple[str, ...] = ("RS256", "ES256")) -> None:
        self.issuer = issuer.rstrip("/")
        self.audience = audience
        self._algorithms = list(algorithms)
        self._keys: jwt.PyJWKSet | None = None
        self._lock = asyncio.Lock()

    async def _fetch_keys(self) -> jwt.PyJWKSet:
        async with httpx.AsyncClient(timeout=5.0) as http:
            discovery = (await http.get(f"{self.issuer}/.well-known/openid-configuration")).json()
            return jwt.PyJWKSet.from_dict((await http.get(discovery["jwks_uri"])).json())

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        async with self._lock:
            for refresh in (False, True):
                if self._keys is None or refresh:
                    try:
                        self._keys = await self._fetch_keys()
                    except (httpx.HTTPError, ValueError, KeyError, jwt.PyJWTError) as exc:
                        reason = f"the identity provider's keys are unavailable ({type(exc).__name__})"
                        raise TokenRejected(reason) from None
                found = next((k for k in self._keys.keys if k.key_id == kid), None)
                if found is not None:
                    return found
        raise TokenRejected("the token is signed with a key the identity provider does not publish")

    async def verify(self, token: str) -> dict[str, Any]:
        try:
            kid = jwt.get_unverified_header(token).get("kid")
        except jwt.PyJWTError:
            raise TokenRejected("not a JWT") from None
        key = await self._key(kid)
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=self._algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={"require": ["exp", "sub", "aud", "iss"]},
            )
        except jwt.PyJWTError as exc:
            raise TokenRejected(str(exc)) from None
        return claims


def bearer(authorization: str) -> str | None:
    """The token of an `Authorization: Bearer ...` value, None for any other scheme."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None
