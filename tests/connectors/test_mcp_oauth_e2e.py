"""An upstream MCP server behind OAuth, reached through the gateway: the agent signs in to
the gateway with its own token, the gateway signs in to the upstream with its own client
credentials from the real test IdP, and the agent's token never reaches the upstream.
When the gateway cannot sign in, or may not have the scope a tool needs, the agent is told
exactly that, and /readyz shows why the backend is unhealthy."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.mcp.client import connect
from tests.support.gateway import GatewayFactory, RunningGateway
from tests.support.node_tools import NodeTools
from tests.support.protected_upstream import READER, WRITER, OAuthBackend, oauth_backend

POLICY = """\
# The test agent may use the protected upstream's tools.
p, tester, *, protected.*, allow, true, -
"""
WRONG_SECRET = "not-the-writer-secret-0123456789"


@pytest.fixture
async def backend(node_tools: NodeTools, tmp_path: Path) -> AsyncIterator[OAuthBackend]:
    async with oauth_backend(node_tools, tmp_path / "idp") as started:
        yield started


Started = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]


@pytest.fixture
def start_protected(backend: OAuthBackend, start_gateway: GatewayFactory, policy_dir: Path) -> Started:
    """The gateway with the protected upstream as connector `protected`, signing in as given."""
    (policy_dir / "policy.csv").write_text(POLICY)
    (policy_dir / "cases.yaml").unlink(missing_ok=True)
    idp, upstream = backend

    def start(**credentials: str) -> contextlib.AbstractAsyncContextManager[RunningGateway]:
        auth = {"kind": "oauth_client_credentials", "issuer": idp.issuer, **credentials}
        stanza: dict[str, Any] = {"kind": "mcp", "url": upstream.url, "timeout_seconds": 5, "retries": 0}
        return start_gateway({"protected": {**stanza, "auth": auth}})

    return start


async def call(gateway: RunningGateway, token: str, tool: str, arguments: dict[str, Any]) -> tuple[bool, str]:
    async with connect(gateway.mcp_url, token) as client:
        result = await client.call_tool(tool, arguments)
    return bool(result.is_error), str(getattr(result.content[0], "text", ""))


async def backend_health(gateway: RunningGateway) -> dict[str, Any]:
    """The connector's state in /readyz as an operator sees it, probed afresh."""
    await gateway.gateway.probe.refresh()
    admin = {"Authorization": f"Bearer {gateway.token('ops', ('gateway-admin',))}"}
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{gateway.url}/readyz", headers=admin)
    backends: dict[str, Any] = response.json()["backends"]
    return dict(backends["protected"])


async def test_the_agent_reaches_the_upstream_with_the_gateways_own_token(
    backend: OAuthBackend, start_protected: Started
) -> None:
    _, upstream = backend
    async with start_protected(**WRITER) as gateway:
        token = gateway.token("agent-7")
        assert await call(gateway, token, "protected.echo", {"text": "hello"}) == (False, "hello")
        assert await call(gateway, token, "protected.add", {"a": 2, "b": 3}) == (False, "5")
        assert (await backend_health(gateway))["healthy"]
    assert {claims["client_id"] for claims in upstream.seen.accepted} == {WRITER["client_id"]}
    assert not any(token in header for header in upstream.seen.authorizations)


async def test_a_wrong_secret_is_what_the_agent_and_readyz_are_told(
    backend: OAuthBackend, start_protected: Started
) -> None:
    idp, _ = backend
    async with start_protected(client_id=WRITER["client_id"], client_secret=WRONG_SECRET) as gateway:
        is_error, text = await call(gateway, gateway.token("agent-7"), "protected.echo", {"text": "hello"})
        health = await backend_health(gateway)
    assert is_error and "cannot sign in to the upstream MCP server" in text, text
    assert "token request to /token refused: invalid_client" in text and idp.issuer not in text
    assert not health["healthy"] and f"token request to {idp.issuer}/token refused: invalid_client" in health["detail"]
    assert WRONG_SECRET not in text + health["detail"]


async def test_a_scope_the_gateway_may_not_have_is_named(start_protected: Started) -> None:
    # The gateway's client may read only: `add` needs mcp:write, which the IdP will not grant.
    async with start_protected(**READER) as gateway:
        token = gateway.token("agent-7")
        is_error, text = await call(gateway, token, "protected.add", {"a": 2, "b": 3})
        assert is_error and "getting more scope failed" in text and "invalid_scope" in text, text
        assert "mcp:write" in text
        assert await call(gateway, token, "protected.echo", {"text": "still"}) == (False, "still")
        assert (await backend_health(gateway))["healthy"]


async def test_an_unreachable_idp_is_named(backend: OAuthBackend, start_protected: Started) -> None:
    idp, _ = backend
    idp.process.terminate()
    await idp.process.wait()
    async with start_protected(**WRITER) as gateway:
        is_error, text = await call(gateway, gateway.token("agent-7"), "protected.echo", {"text": "hello"})
        health = await backend_health(gateway)
    assert is_error and "cannot sign in to the upstream MCP server: cannot reach /.well-known/" in text, text
    assert idp.issuer not in text
    assert not health["healthy"] and f"cannot reach {idp.issuer}/.well-known/" in health["detail"]


async def test_no_secret_or_token_reaches_a_log_or_the_audit_trail(
    backend: OAuthBackend, start_protected: Started, caplog: pytest.LogCaptureFixture
) -> None:
    _, upstream = backend
    caplog.set_level(logging.DEBUG)
    async with start_protected(**WRITER) as gateway:
        assert await call(gateway, gateway.token("agent-7"), "protected.add", {"a": 1, "b": 2}) == (False, "3")
        health = await backend_health(gateway)
    async with start_protected(client_id=WRITER["client_id"], client_secret=WRONG_SECRET) as gateway:
        failed = await call(gateway, gateway.token("agent-7"), "protected.echo", {"text": "x"})
    database = Path(str(gateway.config.audit.database))
    audit = b"".join(path.read_bytes() for path in database.parent.glob(database.name + "*"))
    assert b"protected.add" in audit
    tokens = {header.removeprefix("Bearer ") for header in upstream.seen.authorizations if header}
    assert tokens and failed[0]
    outputs = [caplog.text, str(health), str(failed)]
    for secret in (WRITER["client_secret"], WRONG_SECRET, *tokens):
        assert not any(secret in output for output in outputs)
        assert secret.encode() not in audit
