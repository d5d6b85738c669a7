"""The signature and the registered claims of a token whose header and payload were
already parsed (once: pyjwt's `decode` would parse them again on the hot path)."""

from __future__ import annotations

import binascii
import functools
from collections.abc import Collection, Mapping
from typing import Any

import jwt
from jwt.algorithms import Algorithm

from gateway.identity.errors import AuthError

#: Claims every access token must carry (`iss` is matched before any of this runs).
REQUIRED_CLAIMS = ("exp", "sub", "iss", "aud")
_IMPLEMENTATIONS: dict[str, Algorithm] = {}


@functools.lru_cache(maxsize=256)
def _prepared_once(algorithm: str, key: Any) -> Any:
    return _IMPLEMENTATIONS[algorithm].prepare_key(key)


def _prepared(algorithm: str, key: Any) -> Any:
    """The key as the algorithm uses it, prepared once per key (pyjwt parses it on every
    call otherwise: a fiftieth of the gateway's CPU per call, bench/cost.py)."""
    try:
        return _prepared_once(algorithm, key)
    except TypeError:  # an unhashable key (a JWK dict): prepared each time
        return _IMPLEMENTATIONS[algorithm].prepare_key(key)


def verify_signature(token: str, algorithm: str, key: Any) -> None:
    signing_input, _, encoded = token.rpartition(".")
    implementation = _IMPLEMENTATIONS.get(algorithm)
    if implementation is None:
        implementation = _IMPLEMENTATIONS.setdefault(algorithm, jwt.get_algorithm_by_name(algorithm))
    try:
        signature = jwt.utils.base64url_decode(encoded.encode("ascii"))
    except (binascii.Error, UnicodeError, ValueError):
        raise AuthError("token signature is not base64url-encoded") from None
    try:
        valid = implementation.verify(signing_input.encode("ascii"), _prepared(algorithm, key), signature)
    except (jwt.InvalidKeyError, ValueError, TypeError):
        # A key that cannot serve this algorithm (a P-256 key asked for ES384, say).
        raise AuthError(f"the issuer's key cannot check a {algorithm} signature") from None
    if not valid:
        raise AuthError("token signature is invalid")


def _time(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise AuthError(f"token {name!r} claim must be a number (seconds since 1970)")
    return float(value)


def check_claims(claims: Mapping[str, Any], audiences: Collection[str], leeway: float, now: float) -> None:
    """exp, nbf, iat (with `leeway` seconds of clock skew) and aud, each refusal precise."""
    for name in REQUIRED_CLAIMS:
        if name not in claims:
            raise AuthError(f"token lacks the required {name!r} claim")
    expires = _time(claims, "exp")
    if expires is not None and expires <= now - leeway:
        raise AuthError("token has expired")
    for name in ("nbf", "iat"):
        moment = _time(claims, name)
        if moment is not None and moment > now + leeway:
            raise AuthError(f"token is not valid yet ({name} in the future)")
    audience = claims["aud"]
    named = [audience] if isinstance(audience, str) else audience
    if not isinstance(named, list) or not all(isinstance(a, str) for a in named):
        raise AuthError("token 'aud' claim must be a string or a list of strings")
    if not set(named) & set(audiences):
        raise AuthError(f"token audience is not one of {', '.join(sorted(audiences))}")
