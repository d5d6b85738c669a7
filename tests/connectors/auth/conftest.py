"""Fixtures for the backend-credential tests: oidc-provider with the RFC 8693 grant
registered (tests/support/oidc_idp.mjs), the gateway's client allowed to use it, and
tokens an agent holds for the person it acts for."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from connectors.base import CallContext, CallerToken
from gateway.app import create_app
from gateway.models import Principal
from gateway.serving import running
from tests.support.gateway import RunningGateway, gateway_config
from tests.support.node_tools import NodeTools
from tests.support.oidc_idp import SCOPE, Idp, running_idp

TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange"
#: The gateway as a client of the identity provider (the `act` of exchanged tokens).
GATEWAY_CLIENT = "agent-gateway-backend"
GATEWAY_SECRET = "gateway-exchange-secret-0123456789abcdef"
SAP_AUDIENCE = "https://sap.example.com/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
ORDS_AUDIENCE = "https://ords.example.com/ords/hr"
CICS_AUDIENCE = "https://cics.example.com/CICSPROD"
#: The agent's OAuth client: the one agent acting for several people.
AGENT_CLIENT = "purchasing-assistant"


@pytest.fixture
async def idp(node_tools: NodeTools, tmp_path: Path, public_url: str) -> AsyncIterator[Idp]:
    client = {
        "client_id": GATEWAY_CLIENT,
        "client_secret": GATEWAY_SECRET,
        "grant_types": [TOKEN_EXCHANGE, "client_credentials"],
        "redirect_uris": [],
        "response_types": [],
        "scope": SCOPE,
    }
    async with running_idp(
        node_tools,
        tmp_path / "idp",
        resources=[public_url, f"{public_url}/mcp", SAP_AUDIENCE],
        clients=[client],
        claims={},
        exchange={"audiences": [SAP_AUDIENCE, ORDS_AUDIENCE, CICS_AUDIENCE], "ttl": 300},
    ) as running:
        yield running


def exchange_auth(idp: Idp, audience: str, **overrides: Any) -> dict[str, Any]:
    """The `auth` section of a stanza whose backend sees the caller."""
    return {
        "kind": "token_exchange",
        "token_url": f"{idp.issuer}/token",
        "client_id": GATEWAY_CLIENT,
        "client_secret": GATEWAY_SECRET,
        "audience": audience,
        **overrides,
    }


async def person_token(
    idp: Idp, subject: str, audience: str, roles: tuple[str, ...] = (), ttl: int = 300, **claims: Any
) -> str:
    """What the agent holds when acting for `subject`: a token the IdP issued to the agent's
    client for the gateway (delegation), signed with the IdP's published key."""
    now = int(time.time())
    payload = {
        "iss": idp.issuer,
        "sub": subject,
        "aud": audience,
        "iat": now,
        "exp": now + ttl,
        "jti": f"{subject}-{now}-{time.monotonic_ns()}",
        "client_id": AGENT_CLIENT,
        "scope": SCOPE,
        "roles": list(roles),
        **claims,
    }
    return await idp.sign(payload, {"typ": "at+jwt"})


def context_for(
    subject: str, token: str | None, *, expires_at: float | None = None, issuer: str = "idp"
) -> CallContext:
    """A call's context as the pipeline builds it for a caller with this token."""
    principal = Principal(subject=subject, issuer=issuer, client=AGENT_CLIENT)
    caller = None if token is None else CallerToken(token, expires_at if expires_at is not None else time.time() + 300)
    return CallContext("call-1", principal, "", 5.0, caller_token=caller)


#: Rules of the tests (appended to the shipped policy): clerks release orders, and SAP
#: decides whose release counts.
CLERK_RULES = "\np, purchasing-clerk, *, sap.release_purchase_order, allow, true, -\n"


@pytest.fixture
def start_acting_gateway(
    tmp_path: Path, policy_dir: Path, gateway_port: int, public_url: str, idp: Idp
) -> Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]:
    """The gateway on its public URL, trusting the IdP for agents (and its own key, which
    mints approvers' tokens), with the given connectors."""
    with (policy_dir / "policy.csv").open("a", encoding="utf-8") as policy:
        policy.write(CLERK_RULES)

    @contextlib.asynccontextmanager
    async def start(connectors: dict[str, Any], **sections: Any) -> AsyncIterator[RunningGateway]:
        config = gateway_config(
            tmp_path,
            policy_dir,
            connectors,
            server={"port": gateway_port, "public_url": public_url},
            identity={"issuers": [{"issuer": idp.issuer, "required_scopes": [SCOPE]}]},
            **sections,
        )
        app = create_app(config)
        async with running(app, port=gateway_port) as url:
            yield RunningGateway(url, app, config)

    return start
