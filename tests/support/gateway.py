"""End-to-end harness: real servers on ephemeral loopback ports, real tokens, the
official MCP SDK client. The fixtures built on it live in tests/conftest.py."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from gateway.config import GatewayConfig, parse_config
from gateway.identity import TokenVerifier

REPO = Path(__file__).resolve().parents[2]
SECRET = "test-secret-for-the-gateway-suite-0123456789"
METRICS_TOKEN = "test-scrape-token-7c41"


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

    @property
    def scrape_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {METRICS_TOKEN}"}

    async def scrape(self) -> str:
        """The gateway's /metrics, fetched as a scraper with the scrape token does."""
        async with httpx.AsyncClient() as http:
            response = await http.get(f"{self.url}/metrics", headers=self.scrape_headers)
        assert response.status_code == 200, response.text
        return response.text

    def token(self, subject: str = "agent-1", roles: tuple[str, ...] = ("tester",), **kw: Any) -> str:
        return TokenVerifier(self.config.identity, self.config.base_dir).mint(subject, roles, **kw)


def gateway_config(tmp_path: Path, policy_dir: Path, connectors: dict[str, Any], **sections: Any) -> GatewayConfig:
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0, "metrics_token": "${env:GATEWAY_TEST_METRICS_TOKEN}"},
        # Tests hand connectors their backends' credentials inline; the gateway's own key
        # comes the production way, by reference.
        "allow_inline_secrets": True,
        "identity": {"secret": "${env:GATEWAY_TEST_SECRET}", "issuer": "agent-gateway", "audience": "agent-gateway"},
        "policy": {"directory": str(policy_dir), "watch": False},
        "audit": {"database": str(tmp_path / "audit.db")},
        # Tests that are not about pinning use their upstreams' tools as first seen.
        "catalog": {"trust_on_first_use": True},
        # The shipped policy's approver roles (a rule naming an unknown one refuses to load).
        "approvals": {
            "approver_roles": ["approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor"]
        },
        "connectors": connectors,
    }
    for name, values in sections.items():
        if isinstance(values, dict):
            raw.setdefault(name, {}).update(values)
        else:
            raw[name] = values
    # References may name the test's own variables; no GATEWAY_* override leaks in from outside.
    environ = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    environ |= {"GATEWAY_TEST_SECRET": SECRET, "GATEWAY_TEST_METRICS_TOKEN": METRICS_TOKEN}
    return parse_config(raw, base_dir=tmp_path, environ=environ)


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]
