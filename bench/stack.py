"""An echo MCP upstream and a gateway in front of it, each in its own process on loopback
ports, for benchmarks that compare calls with and without the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier
from gateway.serving import free_port

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789-0123456789-0123456789"


@dataclass(frozen=True)
class EchoStack:
    upstream_mcp: str
    gateway: str
    token: str
    #: The gateway's metrics listener (server.metrics_port).
    metrics: str
    #: Process ids of the upstream and the gateway (for CPU accounting from /proc).
    upstream_pid: int = 0
    gateway_pid: int = 0
    audit_db: Path | None = None


async def _wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient() as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(f"server for {url} exited with {process.returncode}")
            try:
                await http.get(url)
                return
            except httpx.TransportError:
                await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def _start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)


@contextlib.asynccontextmanager
async def echo_stack(extra_config: str = "") -> AsyncIterator[EchoStack]:
    """Policy and audit (durable, on SQLite) on, as shipped; the token has role `tester`.
    `extra_config` is YAML appended to the gateway's config file (more top-level sections)."""
    upstream_port, gateway_port, metrics_port = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "gateway.yaml"
        (Path(tmp) / "identity.secret").write_text(SECRET)
        config.write_text(
            f"""
server: {{host: 127.0.0.1, port: {gateway_port}, metrics_port: {metrics_port}}}
identity: {{secret: "${{file:identity.secret}}"}}
policy: {{directory: {REPO / "policies"}, watch: false}}
audit: {{database: {Path(tmp) / "audit.db"}}}
approvals: {{approver_roles: [approver, finance-approver, hr-approver, supervisor, support-supervisor]}}
catalog: {{trust_on_first_use: true}}
connectors:
  echo: {{kind: mcp, url: "http://127.0.0.1:{upstream_port}/mcp", timeout_seconds: 30}}
{extra_config}
"""
        )
        upstream = _start(
            [sys.executable, "-m", "connectors.mcp.stub", "--port", str(upstream_port)], Path(tmp) / "upstream.log"
        )
        gateway = _start(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)], Path(tmp) / "gateway.log"
        )
        try:
            stack = EchoStack(
                upstream_mcp=f"http://127.0.0.1:{upstream_port}/mcp",
                gateway=f"http://127.0.0.1:{gateway_port}",
                metrics=f"http://127.0.0.1:{metrics_port}/metrics",
                token=TokenVerifier(IdentitySettings(secret=SECRET), REPO).mint("bench-agent", ("tester",)),
                upstream_pid=upstream.pid,
                gateway_pid=gateway.pid,
                audit_db=Path(tmp) / "audit.db",
            )
            await _wait_ready(stack.upstream_mcp, upstream)
            await _wait_ready(f"{stack.gateway}/healthz", gateway)
            yield stack
        finally:
            for process in (gateway, upstream):
                process.terminate()
                process.wait(timeout=10)
