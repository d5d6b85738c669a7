"""Identity: a bearer JWT becomes a Principal, or a precise reason why not."""

from __future__ import annotations

import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from gateway.config import IdentitySettings
from gateway.errors import AuthError as AuthError
from gateway.models import Principal


def bearer_token(headers: Mapping[str, str]) -> str:
    value = headers.get("authorization")
    if not value:
        raise AuthError("missing bearer token (send 'Authorization: Bearer <JWT>')")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise AuthError("malformed Authorization header: expected 'Bearer <JWT>'")
    return token.strip()


def _roles_from(claim: Any) -> tuple[str, ...]:
    if claim is None:
        return ()
    if isinstance(claim, str):
        # Both "a b" (OAuth scope style) and "a,b" appear in the wild.
        return tuple(r for r in claim.replace(",", " ").split() if r)
    if isinstance(claim, list) and all(isinstance(r, str) for r in claim):
        return tuple(claim)
    raise AuthError("token roles claim must be a list of strings or a space-separated string")


class TokenVerifier:
    """Verifies JWTs against the configured keys; the keys are parsed once, not per call."""

    def __init__(self, settings: IdentitySettings, base_dir: Path) -> None:
        self._settings = settings
        self._keys: dict[str, Any] = {}
        if settings.secret is not None:
            self._keys["HS"] = settings.secret.get_secret_value()
        if settings.public_key_file:
            path = Path(settings.public_key_file)
            pem = (path if path.is_absolute() else base_dir / path).read_bytes()
            public_key = serialization.load_pem_public_key(pem)
            self._keys["RS"] = self._keys["ES"] = public_key
        self._algorithms = list(settings.algorithms)

    def verify(self, token: str) -> Principal:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthError("token is not a well-formed JWT") from None
        algorithm = header.get("alg")
        if algorithm not in self._algorithms:
            raise AuthError(f"token algorithm {algorithm!r} is not accepted")
        key = self._keys[algorithm[:2]]
        s = self._settings
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=s.audience,
                issuer=s.issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthError("token is not valid yet (nbf/iat in the future)") from None
        except jwt.InvalidAudienceError:
            raise AuthError(f"token audience is not {s.audience!r}") from None
        except jwt.InvalidIssuerError:
            raise AuthError(f"token issuer is not {s.issuer!r}") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthError(f"token lacks the required {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthError("token signature is invalid") from None
        except jwt.InvalidTokenError:
            raise AuthError("token is invalid") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject:
            raise AuthError("token 'sub' claim must be a non-empty string")
        tenant = claims.get(s.tenant_claim)
        return Principal(
            subject=subject,
            roles=_roles_from(claims.get(s.roles_claim)),
            tenant=str(tenant) if tenant is not None else None,
            issuer=claims.get("iss"),
            claims=claims,
        )

    def mint(
        self,
        subject: str,
        roles: tuple[str, ...] = (),
        *,
        tenant: str | None = None,
        ttl_seconds: int = 3600,
        extra: Mapping[str, Any] | None = None,
    ) -> str:
        """A development token signed with the configured HS secret."""
        secret = self._keys.get("HS")
        algorithm = next((a for a in self._algorithms if a.startswith("HS")), None)
        if secret is None or algorithm is None:
            raise AuthError("minting needs an HS* algorithm and identity.secret in the config")
        now = int(time.time())
        s = self._settings
        claims: dict[str, Any] = {
            "sub": subject,
            "iss": s.issuer,
            "aud": s.audience,
            "iat": now,
            "nbf": now,
            "exp": now + ttl_seconds,
            s.roles_claim: list(roles),
            **(extra or {}),
        }
        if tenant is not None:
            claims[s.tenant_claim] = tenant
        return jwt.encode(claims, secret, algorithm=algorithm)
