"""Fixtures for the identity tests: oidc-provider on Node 22 and a gateway trusting it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from connectors.mcp import stub as echo_stub
from gateway.app import create_app
from gateway.serving import running
from tests.support.gateway import RunningGateway, gateway_config
from tests.support.node_tools import NodeTools
from tests.support.oidc_idp import SCOPE, Idp, running_idp

MACHINE = {"client_id": "machine-agent", "client_secret": "machine-agent-secret-0123456789"}
NO_SCOPE = {"client_id": "scopeless-agent", "client_secret": "scopeless-agent-secret-0123456789"}
OTHER_AUDIENCE = "https://other.example/api"


def machine_client(client: dict[str, str], scope: str | None = SCOPE) -> dict[str, Any]:
    metadata = {**client, "grant_types": ["client_credentials"], "redirect_uris": [], "response_types": []}
    return {**metadata, "scope": scope} if scope else metadata


IdpFactory = Callable[..., contextlib.AbstractAsyncContextManager[Idp]]


@pytest.fixture
def start_idp(node_tools: NodeTools, tmp_path: Path, public_url: str) -> IdpFactory:
    """Starts an oidc-provider issuing tokens for the gateway's resources (and one other)."""
    count = 0

    @contextlib.asynccontextmanager
    async def start(**kw: Any) -> AsyncIterator[Idp]:
        nonlocal count
        count += 1
        settings: dict[str, Any] = {
            "resources": [public_url, f"{public_url}/mcp", OTHER_AUDIENCE],
            "clients": [machine_client(MACHINE), machine_client(NO_SCOPE, scope=None)],
            "claims": {MACHINE["client_id"]: {"roles": ["tester"], "department": "purchasing"}},
            **kw,
        }
        async with running_idp(node_tools, tmp_path / f"idp{count}", **settings) as idp:
            yield idp

    return start


@pytest.fixture
async def idp(start_idp: IdpFactory) -> AsyncIterator[Idp]:
    async with start_idp() as running_idp_:
        yield running_idp_


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]


@pytest.fixture
def upstream_headers() -> list[dict[str, str]]:
    """The headers of every request the echo upstream received."""
    return []


@pytest.fixture
async def echo_url(upstream_headers: list[dict[str, str]]) -> AsyncIterator[str]:
    app: Starlette = echo_stub.create_app()

    async def recording(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            upstream_headers.append(dict(Headers(scope=scope)))
        await app(scope, receive, send)

    async with running(recording) as url:
        yield f"{url}/mcp"


@pytest.fixture
def start_oidc_gateway(
    tmp_path: Path, policy_dir: Path, gateway_port: int, public_url: str, echo_url: str
) -> GatewayFactory:
    """The gateway on its public URL, trusting the given issuers (and its local key)."""

    @contextlib.asynccontextmanager
    async def start(
        *issuers: dict[str, Any], console: dict[str, Any] | None = None, **jwks: Any
    ) -> AsyncIterator[RunningGateway]:
        identity: dict[str, Any] = {"issuers": list(issuers), "jwks": {"refetch_interval_seconds": 0.2, **jwks}}
        config = gateway_config(
            tmp_path,
            policy_dir,
            {"echo": {"kind": "mcp", "url": echo_url, "timeout_seconds": 5}},
            server={"port": gateway_port, "public_url": public_url},
            identity={**identity, **({"console": console} if console else {})},
        )
        app = create_app(config)
        async with running(app, port=gateway_port) as url:
            yield RunningGateway(url, app, config)

    return start


def trusting(idp: Idp, **overrides: Any) -> dict[str, Any]:
    return {"issuer": idp.issuer, "required_scopes": [SCOPE], **overrides}


@pytest.fixture
async def oidc_gateway(idp: Idp, start_oidc_gateway: GatewayFactory) -> AsyncIterator[RunningGateway]:
    async with start_oidc_gateway(trusting(idp)) as gw:
        yield gw
