"""One authorization server's token endpoint, as the gateway's client: a form POST with the
client's id and secret (HTTP basic, RFC 6749 2.3.1), and the answer as an `IssuedToken`.
What goes wrong is said precisely and without any token: the server's `error` code and
description, or that it could not be reached."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx
import jwt

from connectors.auth.settings import TokenEndpointSettings
from connectors.tls import client_context, tls_failure
from gateway.errors import BackendUnavailable, CredentialRefused

#: Lifetime assumed for a token issued without `expires_in` and without a readable `exp`.
DEFAULT_LIFETIME_SECONDS = 60.0
_UNPRINTABLE = re.compile(r"[^\x20-\x7e]")


@dataclass(frozen=True, slots=True)
class IssuedToken:
    value: str = field(repr=False)
    #: Seconds since the epoch.
    expires_at: float
    #: The token's own claims when it is a JWT (read, not verified: only to name who the
    #: backend will see in the audit record; the backend verifies it).
    claims: Mapping[str, Any] = field(default_factory=dict)


def _claims(token: str) -> dict[str, Any]:
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims if isinstance(claims, dict) else {}


def _shown(value: Any, limit: int = 200) -> str:
    return _UNPRINTABLE.sub("?", str(value))[:limit]


def _refusal(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        described = body.get("error_description")
        detail = f"{_shown(body['error'], 64)}: {_shown(described)}" if described else _shown(body["error"], 64)
        return f"HTTP {response.status_code} {detail}"
    return f"HTTP {response.status_code}"


class TokenEndpoint:
    def __init__(self, settings: TokenEndpointSettings, url: str, connector: str, timeout: float) -> None:
        self.url = url
        self._connector = connector
        self._tls = client_context(settings.tls)
        self._client = httpx.AsyncClient(
            verify=self._tls,
            auth=httpx.BasicAuth(settings.client_id, settings.client_secret.get_secret_value()),
            timeout=httpx.Timeout(timeout),
            headers={"accept": "application/json"},
        )

    async def request(self, form: Mapping[str, str], purpose: str) -> IssuedToken:
        """A token for `form`; `purpose` ("to ...") says what it is for, in the errors."""
        where = urlsplit(self.url).netloc
        try:
            response = await self._client.post(self.url, data=dict(form))
        except httpx.TransportError as exc:
            why = tls_failure(exc, self._tls if self.url.startswith("https:") else None) or type(exc).__name__
            raise BackendUnavailable(
                f"the identity provider at {where} could not be reached {purpose} ({why})"
            ) from None
        if response.status_code != 200:
            raise CredentialRefused(f"the identity provider at {where} refused {purpose} ({_refusal(response)})")
        try:
            body = response.json()
        except ValueError:
            body = None
        value = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(value, str) or not value:
            raise CredentialRefused(
                f"the identity provider at {where} answered without an access_token, asked {purpose}"
            )
        return self._issued(value, body)

    def _issued(self, value: str, body: Mapping[str, Any]) -> IssuedToken:
        claims = _claims(value)
        lifetime = body.get("expires_in")
        if isinstance(lifetime, int | float) and not isinstance(lifetime, bool) and lifetime > 0:
            expires_at = time.time() + float(lifetime)
        elif isinstance(claims.get("exp"), int | float):
            expires_at = float(claims["exp"])
        else:
            expires_at = time.time() + DEFAULT_LIFETIME_SECONDS
        return IssuedToken(value, expires_at, claims)

    async def close(self) -> None:
        await self._client.aclose()
