"""End-to-end harness: real servers on ephemeral loopback ports, real tokens, the
official MCP SDK client."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from connectors.mcp import stub as echo_stub
from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from gateway.identity import TokenVerifier
from gateway.serving import running

REPO = Path(__file__).resolve().parent.parent
SECRET = "test-secret-for-the-gateway-suite-0123456789"


def require_service(name: str, reachable: bool) -> None:
    """Skip when a service is absent, unless CI demands it (GATEWAY_REQUIRE_SERVICES=1)."""
    if reachable:
        return
    if os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (GATEWAY_REQUIRE_SERVICES=1) but not reachable")
    pytest.skip(f"{name} is not reachable on this machine")


@dataclass
class RunningGateway:
    url: str
    app: Starlette
    config: GatewayConfig

    @property
    def mcp_url(self) -> str:
        return f"{self.url}/mcp"

    @property
    def gateway(self) -> Any:
        return self.app.state.gateway

    def token(self, subject: str = "agent-1", roles: tuple[str, ...] = ("tester",), **kw: Any) -> str:
        return TokenVerifier(self.config.identity, self.config.base_dir).mint(subject, roles, **kw)


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    """A private copy of the shipped policies, so a test may edit it."""
    target = tmp_path / "policies"
    shutil.copytree(REPO / "policies", target)
    return target


def gateway_config(tmp_path: Path, policy_dir: Path, connectors: dict[str, Any], **sections: Any) -> GatewayConfig:
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0},
        "identity": {"secret": SECRET, "issuer": "agent-gateway", "audience": "agent-gateway"},
        "policy": {"directory": str(policy_dir), "watch": False},
        "audit": {"database": str(tmp_path / "audit.db")},
        # Tests that are not about pinning use their upstreams' tools as first seen.
        "catalog": {"trust_on_first_use": True},
        "connectors": connectors,
    }
    for name, values in sections.items():
        raw.setdefault(name, {}).update(values)
    return parse_config(raw, base_dir=tmp_path, environ={})


@pytest.fixture
async def echo_upstream() -> AsyncIterator[tuple[str, Starlette]]:
    app = echo_stub.create_app()
    async with running(app) as url:
        yield f"{url}/mcp", app


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]


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
