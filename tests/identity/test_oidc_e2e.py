"""The gateway trusting a real OpenID provider (oidc-provider on Node 22): machine agents
by client credentials, key rotation without a restart, RFC 9728 metadata and challenges,
refused issuers, audiences and scopes."""

from __future__ import annotations

import asyncio
import time

import httpx
import jwt
import pytest

from gateway.audit import read_records
from gateway.mcp.client import ClientFailure, connect
from tests.identity.conftest import MACHINE, NO_SCOPE, OTHER_AUDIENCE, GatewayFactory, IdpFactory, trusting
from tests.support.gateway import RunningGateway
from tests.support.oidc_idp import SCOPE, Idp

ACCEPT = {"Accept": "application/json, text/event-stream"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "test", "version": "1"}},
}


async def machine_token(idp: Idp, gw: RunningGateway, client: dict[str, str] = MACHINE, **kw: str) -> str:
    return await idp.client_credentials(client["client_id"], client["client_secret"], gw.mcp_url, **kw)


async def post_mcp(gw: RunningGateway, token: str | None) -> httpx.Response:
    headers = {**ACCEPT, **({"Authorization": f"Bearer {token}"} if token else {})}
    async with httpx.AsyncClient() as http:
        return await http.post(gw.mcp_url, json=INITIALIZE, headers=headers)


async def test_machine_agent_makes_governed_calls(
    idp: Idp, oidc_gateway: RunningGateway, upstream_headers: list[dict[str, str]]
) -> None:
    token = await machine_token(idp, oidc_gateway)
    claims = jwt.decode(token, options={"verify_signature": False})
    assert claims["aud"] == oidc_gateway.mcp_url and claims["iss"] == idp.issuer
    async with connect(oidc_gateway.mcp_url, token) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert "echo.add" in names
        result = await client.call_tool("echo.add", {"a": 2, "b": 3})
    assert not result.is_error and result.structured_content == {"sum": 5}
    received = [r for r in read_records(oidc_gateway.config.audit.database) if r.kind == "call.received"]
    principal = received[-1].data["principal"]
    assert principal["issuer"] == idp.issuer
    assert principal["subject"] == principal["client"] == MACHINE["client_id"]
    assert SCOPE in principal["scopes"] and principal["roles"] == ["tester"]
    # The agent's token never reaches the backend.
    assert upstream_headers and not any(token in value for h in upstream_headers for value in h.values())


async def test_rest_front_door_takes_the_same_tokens(idp: Idp, oidc_gateway: RunningGateway) -> None:
    token = await idp.client_credentials(MACHINE["client_id"], MACHINE["client_secret"], oidc_gateway.url)
    async with httpx.AsyncClient(base_url=oidc_gateway.url) as http:
        response = await http.get("/v1/tools", headers={"Authorization": f"Bearer {token}"})
        refused = await http.get("/v1/tools")
    assert response.status_code == 200, response.text
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert f'resource_metadata="{oidc_gateway.url}/.well-known/oauth-protected-resource"' in challenge


async def test_key_rotation_without_restarting_the_gateway(idp: Idp, oidc_gateway: RunningGateway) -> None:
    old = await machine_token(idp, oidc_gateway)
    kids = await idp.rotate()
    new = await machine_token(idp, oidc_gateway)
    assert jwt.get_unverified_header(new)["kid"] == kids[0] != jwt.get_unverified_header(old)["kid"]
    await asyncio.sleep(0.25)  # the unknown-kid refetch interval of this gateway
    for token in (new, old):  # the old key is still published: its tokens keep working
        assert (await post_mcp(oidc_gateway, token)).status_code == 200
    cache = oidc_gateway.gateway.verifier.issuers.remote[0]
    assert cache.fetches == 2  # start-up, then once for the new kid


async def test_retired_key_is_dropped_at_the_next_refresh(idp: Idp, start_oidc_gateway: GatewayFactory) -> None:
    async with start_oidc_gateway(trusting(idp), min_cache_seconds=0.5, default_cache_seconds=0.5) as gw:
        old = await machine_token(idp, gw)
        await idp.rotate()
        await idp.retire()
        new = await machine_token(idp, gw)
        await asyncio.sleep(1.2)  # background refresh picks up the smaller key set
        assert (await post_mcp(gw, new)).status_code == 200
        refused = await post_mcp(gw, old)
    assert refused.status_code == 401
    assert "no key" in refused.json()["detail"]


async def test_protected_resource_metadata_and_challenge(idp: Idp, oidc_gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=oidc_gateway.url) as http:
        root = (await http.get("/.well-known/oauth-protected-resource")).json()
        mcp = (await http.get("/.well-known/oauth-protected-resource/mcp")).json()
    assert root["resource"] == oidc_gateway.url and mcp["resource"] == oidc_gateway.mcp_url
    for document in (root, mcp):
        assert document["authorization_servers"] == [idp.issuer]
        assert document["scopes_supported"] == [SCOPE]
        assert document["bearer_methods_supported"] == ["header"]
    missing = await post_mcp(oidc_gateway, None)
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == (
        'Bearer realm="agent-gateway", '
        f'resource_metadata="{oidc_gateway.url}/.well-known/oauth-protected-resource/mcp", scope="{SCOPE}"'
    )
    root_metadata = f'resource_metadata="{oidc_gateway.url}/.well-known/oauth-protected-resource"'
    async with httpx.AsyncClient(base_url=oidc_gateway.url) as http:
        for path in ("/v1/tools", "/v1/approvals", "/v1/audit/calls"):
            other = await http.get(path)
            assert other.status_code == 401, path
            assert root_metadata in other.headers["www-authenticate"], path
    bad = await post_mcp(oidc_gateway, "not-a-jwt")
    assert 'error="invalid_token"' in bad.headers["www-authenticate"]
    assert "resource_metadata=" in bad.headers["www-authenticate"]


async def test_token_without_the_required_scope_gets_403(idp: Idp, oidc_gateway: RunningGateway) -> None:
    token = await machine_token(idp, oidc_gateway, NO_SCOPE, scope="")
    response = await post_mcp(oidc_gateway, token)
    assert response.status_code == 403
    challenge = response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in challenge and f'scope="{SCOPE}"' in challenge
    assert "lacks the required scope(s) mcp:tools" in response.json()["detail"]


async def test_other_audience_is_refused(idp: Idp, oidc_gateway: RunningGateway) -> None:
    token = await idp.client_credentials(MACHINE["client_id"], MACHINE["client_secret"], OTHER_AUDIENCE)
    response = await post_mcp(oidc_gateway, token)
    assert response.status_code == 401
    assert "token audience is not one of" in response.json()["detail"]
    with pytest.raises(ClientFailure, match="audience"):
        async with connect(oidc_gateway.mcp_url, token) as client:
            await client.list_tools()


async def test_unconfigured_issuer_is_refused_without_a_fetch(
    idp: Idp, start_idp: IdpFactory, oidc_gateway: RunningGateway
) -> None:
    async with start_idp() as stranger:
        token = await stranger.client_credentials(MACHINE["client_id"], MACHINE["client_secret"], oidc_gateway.mcp_url)
    response = await post_mcp(oidc_gateway, token)
    assert response.status_code == 401
    assert f"token issuer '{stranger.issuer}' is not a trusted issuer" in response.json()["detail"]
    assert oidc_gateway.gateway.verifier.issuers.remote[0].fetches == 1
    failures = [r for r in read_records(oidc_gateway.config.audit.database) if r.kind == "auth.failed"]
    assert "not a trusted issuer" in failures[-1].data["reason"]


async def test_readyz_reports_an_issuer_whose_keys_cannot_be_fetched(
    idp: Idp, start_oidc_gateway: GatewayFactory
) -> None:
    down = {"issuer": "http://127.0.0.1:9/realms/gone", "required_scopes": [SCOPE]}
    async with start_oidc_gateway(trusting(idp), down, fetch_timeout_seconds=1) as gw, httpx.AsyncClient() as http:
        # The details of /readyz are for an operator (the admin role); /metrics for the scraper.
        admin = {"Authorization": f"Bearer {gw.token('oncall', ('gateway-admin',))}"}
        response = await http.get(f"{gw.url}/readyz", headers=admin)
        metrics = await gw.scrape()
    assert response.status_code == 503
    issuers = response.json()["issuers"]
    assert issuers[idp.issuer]["ready"] is True
    assert issuers[down["issuer"]]["ready"] is False
    assert "ConnectError" in issuers[down["issuer"]]["error"]
    assert f'gateway_identity_keys_ready{{issuer="{down["issuer"]}"}} 0.0' in metrics
    assert f'gateway_identity_keys_ready{{issuer="{idp.issuer}"}} 1.0' in metrics
    assert f'gateway_identity_jwks_fetch_failures_total{{issuer="{down["issuer"]}"}} 1.0' in metrics


async def test_policy_conditions_read_claims_and_scopes(idp: Idp, oidc_gateway: RunningGateway) -> None:
    directory = oidc_gateway.config.resolve(oidc_gateway.config.policy.directory)
    with (directory / "policy.csv").open("a") as rules:
        rules.write(
            "\n# Purchasing agents holding the MCP scope may not echo.\n"
            "p, tester, *, echo.echo, deny,"
            " 'department' in r.ctx.claims && r.ctx.claims.department == 'purchasing'"
            " && 'mcp:tools' in r.ctx.scopes, -\n"
        )
    assert (await oidc_gateway.gateway.reload_policy("test")).ok
    token = await machine_token(idp, oidc_gateway)
    async with connect(oidc_gateway.mcp_url, token) as client:
        denied = await client.call_tool("echo.echo", {"text": "hi"})
        allowed = await client.call_tool("echo.add", {"a": 1, "b": 1})
    assert denied.is_error and "Purchasing agents" in str(denied.content[0])
    assert not allowed.is_error


async def test_delegated_token_records_the_actor_chain(idp: Idp, oidc_gateway: RunningGateway) -> None:
    now = int(time.time())
    token = await idp.sign(
        {
            "iss": idp.issuer,
            "sub": "dana",
            "aud": oidc_gateway.mcp_url,
            "iat": now,
            "exp": now + 300,
            "client_id": "assistant-app",
            "scope": SCOPE,
            "roles": ["tester"],
            "act": {"sub": "assistant-app", "act": {"sub": "orchestrator"}},
        },
        {"typ": "at+jwt"},
    )
    async with connect(oidc_gateway.mcp_url, token) as client:
        assert not (await client.call_tool("echo.add", {"a": 1, "b": 1})).is_error
    received = [r for r in read_records(oidc_gateway.config.audit.database) if r.kind == "call.received"]
    principal = received[-1].data["principal"]
    assert principal["subject"] == "dana" and principal["client"] == "assistant-app"
    assert principal["actors"] == ["assistant-app", "orchestrator"]
