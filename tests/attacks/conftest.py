"""The gateway in front of the attack tests' upstream (`up`), with the policy a test module
writes (`POLICY`), options of its connector stanza (`CONNECTOR_OPTIONS`) and other
sections of the gateway's config (`GATEWAY_SECTIONS`)."""

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

from gateway.serving import running
from tests.attacks import upstream
from tests.support.gateway import GatewayFactory, RunningGateway

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
