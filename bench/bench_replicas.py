"""Release latency across replicas: two whole gateways on one PostgreSQL; an MCP agent's call
is held on replica A and approved through replica B's REST API. Prints how long from sending
the approval to B until the agent has its result from A (vote audited and committed, NOTIFY,
A wakes, claims, forwards to the echo upstream, answers), and the same with the approval
sent to A itself for comparison. Then the same for a changed tool definition: from sending
its approval to B until A offers it (pin committed, NOTIFY, A re-reads the upstream's tools),
against approving on A. Prints figures; asserts nothing. Needs PostgreSQL on
127.0.0.1:5432 (trust, db `test`); both replicas run in this one process.

    .venv/bin/python bench/bench_replicas.py [--calls 50]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NamedTuple

import asyncpg
import httpx
from starlette.applications import Starlette

from connectors.mcp import stub as echo_stub
from gateway.app import create_app
from gateway.config import GatewayConfig, parse_config
from gateway.identity import TokenVerifier
from gateway.mcp.client import connect
from gateway.runtime import Gateway
from gateway.serving import running

POSTGRES = "postgresql://127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
#: Distinct arguments for every call: a repeated call would replay the decided outcome.
ARGUMENTS = itertools.count(1000)
RULE = "\np, tester, *, echo.add, approve, r.args.a > 100, 1 approver 1h\n"


#: The shipped policy's approver roles (a policy naming a role no config lists refuses to load).
APPROVER_ROLES = ["approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor"]


def config(directory: Path, policies: Path, upstream: str, database: str) -> GatewayConfig:
    raw = {
        "server": {"host": "127.0.0.1", "port": 0},
        "identity": {"secret": "${env:BENCH_SECRET}"},
        "policy": {"directory": str(policies), "watch": False},
        "audit": {"database": database},
        "approvals": {"max_hold_seconds": 60, "approver_roles": APPROVER_ROLES},
        "catalog": {"trust_on_first_use": True},
        "connectors": {"echo": {"kind": "mcp", "url": upstream, "timeout_seconds": 5}},
    }
    return parse_config(raw, base_dir=directory, environ={"BENCH_SECRET": "bench-replicas-secret-0123456789abcdef"})


def token(cfg: GatewayConfig, subject: str, roles: tuple[str, ...]) -> str:
    return TokenVerifier(cfg.identity, cfg.base_dir).mint(subject, roles)


@contextlib.asynccontextmanager
async def replicas(tmp: Path, database: str) -> AsyncIterator[list[Replica]]:
    policies = tmp / "policies"
    shutil.copytree(ROOT / "policies", policies)
    with (policies / "policy.csv").open("a") as f:
        f.write(RULE)
    echo = echo_stub.create_app()
    async with running(echo) as upstream, contextlib.AsyncExitStack() as stack:
        served = []
        for name in ("a", "b"):
            (tmp / name).mkdir()
            cfg = config(tmp / name, policies, f"{upstream}/mcp", database)
            app = create_app(cfg)
            served.append(Replica(await stack.enter_async_context(running(app)), cfg, app.state.gateway, echo))
        yield served


class Replica(NamedTuple):
    url: str
    cfg: GatewayConfig
    gateway: Gateway
    #: The echo upstream both replicas front (its `state.tools` is what they list).
    upstream: Starlette


async def release_times(holder: Replica, approver: Replica, calls: int) -> list[float]:
    (held_url, held_cfg, *_), (vote_url, vote_cfg, *_) = holder, approver
    headers = {"Authorization": f"Bearer {token(vote_cfg, 'alice', ('approver',))}"}
    times: list[float] = []
    async with (
        connect(f"{held_url}/mcp", token(held_cfg, "agent-1", ("tester",))) as client,
        httpx.AsyncClient(base_url=vote_url, headers=headers) as http,
    ):
        for i in range(calls):
            held = asyncio.create_task(client.call_tool("echo.add", {"a": next(ARGUMENTS), "b": 1}))
            async with asyncio.timeout(10):
                while not (pending := (await http.get("/v1/approvals")).json()["approvals"]):
                    await asyncio.sleep(0.01)
            await asyncio.sleep(0.02)  # the hold is waiting for its wake-up, not still starting
            start = time.perf_counter()
            response = await http.post(f"/v1/approvals/{pending[0]['approval_id']}/approve", json={})
            response.raise_for_status()
            result = await asyncio.wait_for(held, 30)
            times.append(time.perf_counter() - start)
            if result.is_error:
                raise RuntimeError(f"call {i} failed: {result.content}")
    return times


def offered(gateway: Gateway) -> str | None:
    """The description of `echo.echo` the replica offers agents now (None: it offers none)."""
    entry = gateway.catalog.entry("echo.echo")
    return entry.spec.description if entry is not None else None


async def pin_times(shows: Replica, approver: Replica, changes: int) -> list[float]:
    """Seconds from sending the approval of a changed `echo.echo` definition to `approver`
    until `shows` offers it."""
    headers = {"Authorization": f"Bearer {token(approver.cfg, 'rita', ('tool-reviewer',))}"}
    tools = shows.upstream.state.tools
    times: list[float] = []
    async with httpx.AsyncClient(base_url=approver.url, headers=headers) as http:
        for _ in range(changes):
            description = f"Return the text it is given (revision {next(ARGUMENTS)})."
            tools[0] = tools[0].model_copy(update={"description": description})
            # Both replicas read the changed list, as after the upstream's tools/list_changed
            # (which the echo stub does not send): the change waits for review.
            for replica in {shows.url: shows, approver.url: approver}.values():
                replica.gateway.catalog.connectors["echo"].inner._tools_changed()
                await replica.gateway.events.settle()
            start = time.perf_counter()
            response = await http.post("/v1/catalog/pending/echo.echo/approve", json={})
            response.raise_for_status()
            async with asyncio.timeout(10):
                while offered(shows.gateway) != description:
                    await asyncio.sleep(0.001)
            times.append(time.perf_counter() - start)
    return times


def report(name: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(
        f"{name:<40} n={len(ms):<4} p50 {statistics.median(ms):6.1f} ms   p95 {p95:6.1f} ms   max {ms[-1]:6.1f} ms",
        flush=True,
    )


async def main(calls: int) -> None:
    # Every changed definition is logged as quarantined: expected here, not news.
    logging.getLogger("gateway.pins.gate").setLevel(logging.ERROR)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            async with replicas(Path(tmp), f"{POSTGRES}?schema={schema}") as (a, b):
                print("approve sent -> held call's result (echo.add forwarded), two replicas on one PostgreSQL")
                report("held on A, approved through B", await release_times(a, b, calls))
                report("held on A, approved through A", await release_times(a, a, calls))
                print("tool definition approval sent -> offered by the replica (echo.echo description changed)")
                report("changed on A and B, approved through B", await pin_times(a, b, calls))
                report("changed on A and B, approved through A", await pin_times(a, a, calls))
    finally:
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=50)
    asyncio.run(main(parser.parse_args().calls))
