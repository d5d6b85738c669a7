"""The attacks of the promise issue, replayed end to end: the gateway in front of the
attack tests' upstream (`up`), with the policy a test module writes (`POLICY`), options of
its connector stanza (`CONNECTOR_OPTIONS`) and other sections of the gateway's config
(`GATEWAY_SECTIONS`); or in front of the SAP OData and mainframe stubs on the shipped
policies (a private copy a test may edit and reload). Real JWTs, the REST and MCP front
doors."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from connectors.mainframe.stub import serve_mainframe
from connectors.sap import stub as sap_stub
from gateway.serving import running
from tests.attacks import upstream
from tests.support.attacks import SAP_SERVICE, Backends
from tests.support.gateway import GatewayFactory, RunningGateway
from tests.support.stores import postgres_backend

#: An MCP client of the official SDK with a bearer token.
Agent = Callable[..., contextlib.AbstractAsyncContextManager[Client]]


@pytest.fixture
async def payments(
    start_gateway: GatewayFactory, policy_dir: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[RunningGateway, Starlette]]:
    (policy_dir / "attack.csv").write_text(request.module.POLICY)
    app = upstream.create_app()
    async with running(app) as url:
        stanza = {"kind": "mcp", "url": f"{url}/mcp", "timeout_seconds": 5, "protocol": "legacy"}
        stanza.update(getattr(request.module, "CONNECTOR_OPTIONS", {}))
        async with start_gateway({"up": stanza}, **getattr(request.module, "GATEWAY_SECTIONS", {})) as gw:
            yield gw, app


@contextlib.asynccontextmanager
async def agent(gw: RunningGateway, token: str, mode: str = "legacy", **options: Any) -> AsyncIterator[Client]:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"})
    transport = streamable_http_client(gw.mcp_url, http_client=http)
    async with http, Client(transport, mode=mode, cache=None, **options) as client:
        yield client


@pytest.fixture
def attack_policy(policy_dir: Path) -> Path:
    # The shipped test cases pin the shipped rules; the attacks edit rules and reload,
    # so the copy goes without them (a reload would otherwise be refused by a case).
    (policy_dir / "cases.yaml").unlink()
    return policy_dir


@pytest.fixture(params=["sqlite", "postgres"])
async def approvals_database(request: pytest.FixtureRequest) -> AsyncIterator[dict[str, str]]:
    """The approvals settings of a store: SQLite beside the audit log, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield {}
        return
    async with postgres_backend() as backend:
        yield {"database": backend.database}


@pytest.fixture
async def backends(attack_policy: Path) -> AsyncIterator[Backends]:
    sap: Starlette = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(sap) as url, serve_mainframe(password="pw") as mainframe:
        yield Backends(url + SAP_SERVICE, sap, mainframe)
