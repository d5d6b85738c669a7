"""Verified claims become a Principal: roles and tenant at configured (dotted) paths, scopes
from `scope` or `scp`, the client from `client_id` (RFC 9068), `azp` or `cid`, the actor chain from `act`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.identity.errors import AuthError
from gateway.models import Principal

#: Deeper `act` nesting than this is refused rather than walked.
MAX_ACTOR_DEPTH = 8


@dataclass(frozen=True, slots=True)
class ClaimsMapping:
    """Where one issuer keeps roles and tenant."""

    roles_claim: str
    tenant_claim: str


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The value at a dotted path (`realm_access.roles`); a claim whose own name has dots
    (`https://example.com/roles`) is found when the whole path is a top-level key."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


def _words(claim: Any, name: str) -> tuple[str, ...]:
    if claim is None:
        return ()
    if isinstance(claim, str):
        # Both "a b" (OAuth scope style) and "a,b" appear in the wild.
        return tuple(r for r in claim.replace(",", " ").split() if r)
    if isinstance(claim, list) and all(isinstance(r, str) for r in claim):
        return tuple(claim)
    raise AuthError(f"token {name} claim must be a list of strings or a space-separated string")


def _actors(claims: Mapping[str, Any]) -> tuple[str, ...]:
    """RFC 8693 `act`: the current actor first, then whoever it acts for, outermost last."""
    chain: list[str] = []
    act = claims.get("act")
    while act is not None:
        if not isinstance(act, Mapping) or not isinstance(act.get("sub"), str):
            raise AuthError("token 'act' claim must be an object with a string 'sub'")
        if len(chain) == MAX_ACTOR_DEPTH:
            raise AuthError(f"token actor chain is deeper than {MAX_ACTOR_DEPTH}")
        chain.append(act["sub"])
        act = act.get("act")
    return tuple(chain)


def principal_from_claims(claims: Mapping[str, Any], mapping: ClaimsMapping) -> Principal:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("token 'sub' claim must be a non-empty string")
    tenant = claim_at(claims, mapping.tenant_claim)
    client = next((claims[c] for c in ("client_id", "azp", "cid") if c in claims), None)
    return Principal(
        subject=subject,
        roles=_words(claim_at(claims, mapping.roles_claim), "roles"),
        tenant=str(tenant) if tenant is not None else None,
        issuer=claims.get("iss"),
        claims=claims,
        scopes=_words(claims.get("scope", claims.get("scp")), "scope"),
        client=client if isinstance(client, str) else None,
        actors=_actors(claims),
    )


def principal_record(principal: Principal) -> dict[str, Any]:
    """Who called, as every audit record carries it."""
    return {
        "subject": principal.subject,
        "issuer": principal.issuer,
        "client": principal.client,
        "actors": list(principal.actors),
        "roles": list(principal.roles),
        "scopes": list(principal.scopes),
        "tenant": principal.tenant,
    }
