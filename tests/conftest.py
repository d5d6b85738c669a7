"""Fixtures shared by the whole suite: a private copy of the shipped policies, the echo
MCP upstream, a gateway started on an ephemeral loopback port, the Node tools, and a
throwaway PKI for the TLS tests."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, async_playwright
from starlette.applications import Starlette

from connectors.mcp import stub as echo_stub
from gateway.app import create_app
from gateway.serving import free_port, running
from tests.support.gateway import REPO, GatewayFactory, RunningGateway, gateway_config, require_service
from tests.support.node_tools import NodeTools, NodeToolsUnavailable, install
from tests.support.pki import Pki


@pytest.fixture(scope="session")
def node_tools() -> NodeTools:
    """Node 22 and the npm tools (conformance suite, Inspector, oidc-provider), installed on first use."""
    try:
        return install()
    except NodeToolsUnavailable as exc:
        if os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1":
            pytest.fail(f"Node tools are required (GATEWAY_REQUIRE_SERVICES=1): {exc}")
        pytest.skip(f"Node tools unavailable: {exc}")


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A throwaway CA and the certificates the TLS tests use (tests/support/pki.py)."""
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def gateway_port() -> int:
    """A free port for a gateway whose public URL must be known before it starts."""
    return free_port()


@pytest.fixture
def public_url(gateway_port: int) -> str:
    return f"http://127.0.0.1:{gateway_port}"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policies, so a test may edit it."""
    target = tmp_path / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


@pytest.fixture
async def echo_upstream() -> AsyncIterator[tuple[str, Starlette]]:
    app = echo_stub.create_app()
    async with running(app) as url:
        yield f"{url}/mcp", app


@pytest.fixture
def start_gateway(tmp_path: Path, policy_dir: Path) -> GatewayFactory:
    @contextlib.asynccontextmanager
    async def start(connectors: dict[str, Any], **sections: Any) -> AsyncIterator[RunningGateway]:
        config = gateway_config(tmp_path, policy_dir, connectors, **sections)
        app = create_app(config)
        async with running(app) as url:
            yield RunningGateway(url, app, config)

    return start


@pytest.fixture
async def echo_gateway(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> AsyncIterator[RunningGateway]:
    url, _ = echo_upstream
    async with start_gateway({"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}) as gw:
        yield gw


#: Debian's Chromium: Playwright's own browser download fails on these machines.
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    """A headless Chromium for the console tests (skipped where it is not installed)."""
    require_service("Debian chromium at /usr/bin/chromium (apt-get install chromium)", CHROMIUM.exists())
    async with async_playwright() as p:
        launched = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            await launched.close()
