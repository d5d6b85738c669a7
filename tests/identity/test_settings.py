"""The identity config: issuers, JWKS bounds, console sign-in, errors that name the key."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gateway.config import ConfigError, parse_config
from gateway.identity import AuthError, MissingToken
from gateway.identity.errors import InsufficientScope
from gateway.identity.issuers import IssuerRegistry
from gateway.identity.metadata import ProtectedResource

ISSUER = {"issuer": "https://login.example.com/realms/acme", "audiences": ["https://agents.example.com/mcp"]}


def parse(identity: dict[str, Any], **server: Any) -> Any:
    return parse_config({"identity": identity, "server": server}, base_dir=Path("."), environ={})


def test_the_issue_shape_parses() -> None:
    config = parse(
        {
            "issuers": [
                {
                    **ISSUER,
                    "discovery": True,
                    "algorithms": ["RS256", "PS256", "ES256", "EdDSA"],
                    "roles_claim": "realm_access.roles",
                    "tenant_claim": "tid",
                    "required_scopes": ["mcp:tools"],
                }
            ]
        },
        public_url="https://agents.example.com",
    )
    issuer = config.identity.issuers[0]
    assert (issuer.roles_claim, issuer.required_scopes) == ("realm_access.roles", ("mcp:tools",))
    assert config.server.public_url == "https://agents.example.com"
    assert not config.identity.secret  # no local issuer is needed beside an identity provider


@pytest.mark.parametrize(
    ("identity", "message"),
    [
        ({"issuers": [{**ISSUER, "discovery": False}]}, "identity.issuers.0: needs jwks_uri"),
        (
            {"issuers": [{**ISSUER, "algorithms": ["HS256"]}]},
            "issuers.0.algorithms.0: invalid value 'HS256': expected 'RS256'",
        ),
        ({"issuers": [{**ISSUER, "algorithms": ["none"]}]}, "identity.issuers.0.algorithms.0"),
        ({"issuers": [{**ISSUER, "colour": "red"}]}, "identity.issuers.0.colour: unknown key"),
        ({"issuers": [{**ISSUER, "issuer": "ftp://x"}]}, "is not an http(s) URL"),
        (
            {"issuers": [{"audiences": ["a"]}]},
            "issuers.0.issuer: invalid value '': string should have at least 1 character",
        ),
        ({"issuers": [{"issuer": "https://x"}]}, "identity.issuers: each needs audiences when server.public_url"),
        ({"jwks": {"min_cache_seconds": 10, "max_cache_seconds": 5}}, "min_cache_seconds is above max_cache_seconds"),
        ({"jwks": {"refetch_interval_seconds": -1}}, "identity.jwks.refetch_interval_seconds"),
        ({"issuers": [ISSUER], "console": {"issuer": "https://other", "client_id": "c"}}, "is not one of identity"),
        ({"issuers": [ISSUER], "console": {"issuer": ISSUER["issuer"]}}, "identity.console.client_id"),
    ],
)
def test_bad_identity_config_names_the_key(identity: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse(identity)
    assert message in str(raised.value)


def test_issuer_audiences_default_to_the_gateways_resources() -> None:
    config = parse({"issuers": [{"issuer": "https://x"}]}, public_url="https://agents.example.com/")
    registry = IssuerRegistry.from_settings(config.identity, Path("."), config.server.public_url)
    assert registry.get("https://x").audiences == {"https://agents.example.com", "https://agents.example.com/mcp"}  # type: ignore[union-attr]


class _Conn:
    """Just enough of a request for the challenge: its URL."""

    def __init__(self, url: str) -> None:
        from starlette.datastructures import URL

        self.url = URL(url)


def test_challenges_follow_rfc_6750_and_9728() -> None:
    config = parse({"issuers": [{"issuer": "https://x", "required_scopes": ["a", "b"]}]}, public_url="https://gw")
    resource = ProtectedResource("https://gw", IssuerRegistry.from_settings(config.identity, Path("."), "https://gw"))
    mcp, rest = _Conn("https://gw/mcp"), _Conn("https://gw/v1/tools")
    assert resource.challenge(MissingToken("missing"), mcp) == (  # type: ignore[arg-type]
        'Bearer realm="agent-gateway", resource_metadata="https://gw/.well-known/oauth-protected-resource/mcp", '
        'scope="a b"'
    )
    hostile = AuthError("token issuer 'x\", error=\"none\\' is not trusted")
    header = resource.challenge(hostile, rest)  # type: ignore[arg-type]
    assert 'resource_metadata="https://gw/.well-known/oauth-protected-resource"' in header
    assert header.count('"') % 2 == 0 and "\\" not in header
    assert 'error="invalid_token"' in header
    forbidden = resource.challenge(InsufficientScope("lacks b", ("b",)), mcp)  # type: ignore[arg-type]
    assert 'scope="b"' in forbidden and 'error="insufficient_scope"' in forbidden
