"""End-to-end harness: real servers on ephemeral loopback ports, real tokens, the
official MCP SDK client. The fixtures built on it live in tests/conftest.py."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from gateway.config import GatewayConfig, parse_config
from gateway.identity import TokenVerifier

REPO = Path(__file__).resolve().parents[2]
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


def gateway_config(tmp_path: Path, policy_dir: Path, connectors: dict[str, Any], **sections: Any) -> GatewayConfig:
    raw: dict[str, Any] = {
        "server": {"host": "127.0.0.1", "port": 0},
        "identity": {"secret": SECRET, "issuer": "agent-gateway", "audience": "agent-gateway"},
        "policy": {"directory": str(policy_dir), "watch": False},
        "audit": {"database": str(tmp_path / "audit.db")},
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
    return parse_config(raw, base_dir=tmp_path, environ={})


GatewayFactory = Callable[..., contextlib.AbstractAsyncContextManager[RunningGateway]]
