"""Verified claims to Principal: dotted paths, scopes, client, the RFC 8693 actor chain."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.identity import AuthError
from gateway.identity.claims import MAX_ACTOR_DEPTH, ClaimsMapping, principal_from_claims, principal_record

KEYCLOAK = ClaimsMapping("realm_access.roles", "tid")


def test_keycloak_shaped_token() -> None:
    claims = {
        "iss": "https://kc/realms/acme",
        "sub": "u-1",
        "azp": "console",
        "realm_access": {"roles": ["buyer", "approver"]},
        "tid": 42,
        "scope": "openid mcp:tools",
        "act": {"sub": "assistant", "act": {"sub": "orchestrator"}},
    }
    principal = principal_from_claims(claims, KEYCLOAK)
    assert principal.roles == ("buyer", "approver") and principal.tenant == "42"
    assert principal.scopes == ("openid", "mcp:tools") and principal.client == "console"
    assert principal.actors == ("assistant", "orchestrator")
    assert principal_record(principal) == {
        "subject": "u-1",
        "issuer": "https://kc/realms/acme",
        "client": "console",
        "actors": ["assistant", "orchestrator"],
        "roles": ["buyer", "approver"],
        "scopes": ["openid", "mcp:tools"],
        "tenant": "42",
    }


@pytest.mark.parametrize(
    ("claims", "client", "scopes"),
    [
        ({"client_id": "c1", "scp": ["a", "b"]}, "c1", ("a", "b")),  # RFC 9068 / Entra app-only
        ({"cid": "okta-app", "scp": "a b"}, "okta-app", ("a", "b")),  # Okta
        ({}, None, ()),
    ],
)
def test_client_and_scopes_under_their_vendor_names(
    claims: dict[str, Any], client: str | None, scopes: tuple[str, ...]
) -> None:
    principal = principal_from_claims({"sub": "s", **claims}, ClaimsMapping("roles", "tenant"))
    assert (principal.client, principal.scopes) == (client, scopes)


def test_claim_names_with_dots_are_found_whole() -> None:
    claims = {"sub": "s", "https://agents.example.com/roles": ["buyer"]}
    principal = principal_from_claims(claims, ClaimsMapping("https://agents.example.com/roles", "tenant"))
    assert principal.roles == ("buyer",)


@pytest.mark.parametrize(
    ("act", "reason"),
    [
        ("root", "'act' claim must be an object"),
        ({"client": "x"}, "'act' claim must be an object with a string 'sub'"),
        ({"sub": "a", "act": {"sub": 1}}, "'act' claim must be an object"),
    ],
)
def test_malformed_actor_chains_are_refused(act: object, reason: str) -> None:
    with pytest.raises(AuthError, match=reason):
        principal_from_claims({"sub": "s", "act": act}, KEYCLOAK)


def test_actor_chain_depth_is_bounded() -> None:
    act: dict[str, Any] = {"sub": "last"}
    for n in range(MAX_ACTOR_DEPTH + 1):
        act = {"sub": f"a{n}", "act": act}
    with pytest.raises(AuthError, match=f"deeper than {MAX_ACTOR_DEPTH}"):
        principal_from_claims({"sub": "s", "act": act}, KEYCLOAK)
