"""Soak: mixed traffic through one gateway for a while, watching for growth.

    .venv/bin/python bench/soak.py [--minutes 30] [--every 10] [--agents 4]

Gateway and echo upstream run in this process (JWT, policy, durable SQLite audit on).
Each agent loops over: an allowed call, a denied call, a call held for approval and then
approved (REST, Prefer: respond-async, approved by a supervisor, status polled), a backend
error (a connector whose backend is down) and a request with a bad token. Every `--every`
seconds it prints RSS, open fds, event-loop lag and audit lag (records not yet durable);
after the warm-up (the first third) it judges growth of RSS and fds against the tolerances.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from connectors.mcp import stub as echo_stub
from gateway.app import create_app
from gateway.config import parse_config
from gateway.identity import TokenVerifier
from gateway.mcp.client import connect
from gateway.serving import free_port, running

REPO = Path(__file__).resolve().parent.parent
SECRET = "soak-secret-0123456789-0123456789-0123456789"
#: Growth allowed after warm-up: RSS (MiB) and open file descriptors.
RSS_TOLERANCE_MIB = 25.0
FD_TOLERANCE = 16


@dataclass
class Sample:
    at: float
    rss_mib: float
    fds: int
    loop_lag_ms: float
    audit_lag: int
    calls: int


@dataclass
class Soak:
    samples: list[Sample] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str) -> None:
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1

    def verdict(self) -> tuple[bool, str]:
        """Growth from the end of warm-up (first third of the samples) to the last sample."""
        if len(self.samples) < 3:
            return False, "too few samples to judge"
        base = self.samples[len(self.samples) // 3]
        last = self.samples[-1]
        rss, fds = last.rss_mib - base.rss_mib, last.fds - base.fds
        ok = rss <= RSS_TOLERANCE_MIB and fds <= FD_TOLERANCE
        return ok, (
            f"after warm-up: RSS {rss:+.1f} MiB (tolerance {RSS_TOLERANCE_MIB:g}), "
            f"fds {fds:+d} (tolerance {FD_TOLERANCE}): {'no growth' if ok else 'GROWTH'}"
        )


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@contextlib.asynccontextmanager
async def soak_gateway(tmp: Path) -> AsyncIterator[tuple[str, Callable[..., str], object]]:
    policies = tmp / "policies"
    shutil.copytree(REPO / "policies", policies)
    with (policies / "policy.csv").open("a") as f:
        f.write("\np, tester, *, echo.add, approve, r.args.a > 100, 1 supervisor 1h\n")
    async with running(echo_stub.create_app()) as upstream:
        raw = {
            "allow_inline_secrets": True,  # a throwaway gateway of the bench's own
            "catalog": {"trust_on_first_use": True},  # the echo stub's tools are known
            "server": {"host": "127.0.0.1", "port": 0},
            "identity": {"secret": SECRET},
            "policy": {"directory": str(policies), "watch": False},
            "audit": {"database": str(tmp / "audit.db")},
            "approvals": {
                "approver_roles": ["approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor"]
            },
            "connectors": {
                "echo": {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 5},
                "down": {"kind": "mcp", "url": f"http://127.0.0.1:{free_port()}/mcp", "timeout_seconds": 1},
            },
        }
        config = parse_config(raw, base_dir=tmp, environ={})
        verifier = TokenVerifier(config.identity, tmp)
        app = create_app(config)
        async with running(app) as url:
            yield url, verifier.mint, app


async def agent(url: str, mint: Callable[..., str], soak: Soak, until: float, n: int) -> None:
    token, boss = mint(f"soak-{n}", ("tester",)), mint(f"boss-{n}", ("supervisor",))
    outsider = mint(f"outsider-{n}", ("nobody",))
    rest = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30)
    approver = httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {boss}"}, timeout=30)
    async with rest, approver, connect(f"{url}/mcp", token) as mcp, connect(f"{url}/mcp", outsider) as other:
        while time.monotonic() < until:
            result = await mcp.call_tool("echo.echo", {"text": "soak"})
            soak.count("allowed" if not result.is_error else "allowed-failed")
            denied = await other.call_tool("echo.echo", {"text": "no"})
            soak.count("denied" if denied.is_error else "denied-LEAKED")
            await held_then_approved(rest, approver, soak)
            broken = await rest.post("/v1/tools/down.anything:call", json={})
            soak.count(f"backend-error-{broken.status_code}")
            bad = await rest.get("/v1/tools", headers={"Authorization": "Bearer bad"})
            soak.count(f"bad-token-{bad.status_code}")


async def held_then_approved(rest: httpx.AsyncClient, approver: httpx.AsyncClient, soak: Soak) -> None:
    """Held (202), approved by a supervisor, status read, then called again and executed."""
    arguments = {"a": 1000 + sum(soak.outcomes.values()), "b": 1}
    held = await rest.post("/v1/tools/echo.add:call", json=arguments, headers={"Prefer": "respond-async"})
    if held.status_code != 202:
        soak.count(f"held-{held.status_code}")
        return
    approval_id = held.json()["approval_id"]
    await approver.post(f"/v1/approvals/{approval_id}/approve", json={"comment": "soak"})
    status = (await rest.get(f"/v1/calls/{approval_id}")).json().get("status")
    executed = await rest.post("/v1/tools/echo.add:call", json=arguments)
    soak.count(f"held-then-{status}-{executed.status_code}")


async def watch(soak: Soak, app: object, every: float, until: float, out: Callable[[str], None]) -> None:
    started = time.monotonic()
    while time.monotonic() < until:
        tick = time.monotonic()
        await asyncio.sleep(every)
        lag = (time.monotonic() - tick - every) * 1000
        gateway = app.state.gateway  # type: ignore[attr-defined]
        sample = Sample(
            time.monotonic() - started,
            rss_mib(),
            len(os.listdir("/proc/self/fd")),
            lag,
            gateway.audit.pending,
            sum(soak.outcomes.values()),
        )
        soak.samples.append(sample)
        out(
            f"{sample.at:7.0f} s  RSS {sample.rss_mib:7.1f} MiB  fds {sample.fds:4d}  loop lag {lag:7.1f} ms  "
            f"audit lag {sample.audit_lag:4d} records  requests {sample.calls}"
        )


async def run_soak(seconds: float, every: float = 10.0, agents: int = 4, out: Callable[[str], None] = print) -> Soak:
    soak = Soak()
    with tempfile.TemporaryDirectory() as tmp:
        async with soak_gateway(Path(tmp)) as (url, mint, app):
            until = time.monotonic() + seconds
            work: list[Awaitable[None]] = [agent(url, mint, soak, until, n) for n in range(agents)]
            await asyncio.gather(watch(soak, app, every, until, out), *work)
    return soak


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--every", type=float, default=10.0)
    parser.add_argument("--agents", type=int, default=4)
    args = parser.parse_args()
    soak = asyncio.run(run_soak(args.minutes * 60, args.every, args.agents))
    print("outcomes:", dict(sorted(soak.outcomes.items())))
    ok, why = soak.verdict()
    print(why)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
