"""Incident response figures. Prints; asserts nothing.

1. Kill switch across replicas: two whole gateways on one PostgreSQL; a suspension is
   posted to replica A's REST API. Prints how long until replica B enforces it (its
   active set holds it), and until an agent's call in flight on B has been cancelled and
   answered; then the same for a resume reaching B.
2. Cost on every call: the suspension guard around the upstream request (a task and a
   shield) against awaiting the request directly, and the shadow policy's second decision
   against the policy decision alone.

Needs PostgreSQL on 127.0.0.1:5432 (trust, db `test`); both replicas run in this process.

    .venv/bin/python bench/bench_incident.py [--rounds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import shutil
import statistics
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from prometheus_client import CollectorRegistry

from connectors.mcp import stub as echo_stub
from gateway.app import create_app
from gateway.config import parse_config
from gateway.incident_metrics import IncidentMetrics
from gateway.mcp.client import connect
from gateway.models import Principal
from gateway.policy.engine import PolicyEngine
from gateway.serving import running
from gateway.suspensions.service import SuspensionService
from gateway.suspensions.store import SQLiteSuspensionStore

POSTGRES = "postgresql://127.0.0.1:5432/test"
ROOT = Path(__file__).resolve().parent.parent
POLICY = "# Testers use the echo upstream.\np, tester, *, echo.*, allow, true, -\n"


@contextlib.asynccontextmanager
async def replicas(tmp: Path, database: str) -> AsyncIterator[list[tuple[str, Any]]]:
    policies = tmp / "policies"
    policies.mkdir()
    shutil.copy(ROOT / "policies" / "model.conf", policies)
    (policies / "policy.csv").write_text(POLICY)
    async with running(echo_stub.create_app()) as upstream, contextlib.AsyncExitStack() as stack:
        served = []
        for name in ("a", "b"):
            (tmp / name).mkdir()
            raw = {
                "allow_inline_secrets": True,  # throwaway replicas of the bench's own
                "catalog": {"trust_on_first_use": True},
                "server": {"host": "127.0.0.1", "port": 0},
                "identity": {"secret": "bench-incident-secret-0123456789abcdef"},
                "policy": {"directory": str(policies), "watch": False},
                "audit": {"database": database},
                "connectors": {"echo": {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 60}},
            }
            app = create_app(parse_config(raw, base_dir=tmp / name, environ={}))
            served.append((await stack.enter_async_context(running(app)), app.state.gateway))
        yield served


def token(gateway: Any, subject: str, roles: tuple[str, ...]) -> str:
    return str(gateway.verifier.mint(subject, roles))


async def until(check: Callable[[], bool]) -> float:
    start = time.perf_counter()
    async with asyncio.timeout(10):
        while not check():
            await asyncio.sleep(0.0005)
    return time.perf_counter() - start


async def propagation(rounds: int, tmp: Path, database: str) -> None:
    async with replicas(tmp, database) as ((url_a, gw_a), (url_b, gw_b)):
        headers = {"Authorization": f"Bearer {token(gw_a, 'oncall', ('gateway-admin',))}"}
        enforce, cancel, lift = [], [], []
        async with (
            httpx.AsyncClient(base_url=url_a, headers=headers) as http,
            connect(f"{url_b}/mcp", token(gw_b, "agent-1", ("tester",))) as agent,
        ):
            for _ in range(rounds):
                slow = asyncio.create_task(agent.call_tool("echo.sleep", {"seconds": 30}))
                await asyncio.sleep(0.2)
                start = time.perf_counter()
                posted = asyncio.create_task(
                    http.post("/v1/admin/suspensions", json={"scope": "subject", "value": "agent-1", "reason": "b"})
                )
                enforce.append(time.perf_counter() - start + await until(lambda: bool(gw_b.suspensions.active())))
                result = await asyncio.wait_for(slow, 10)
                cancel.append(time.perf_counter() - start)
                assert result.is_error
                suspension = (await posted).json()["suspension"]["suspension_id"]
                start = time.perf_counter()
                await http.post(f"/v1/admin/suspensions/{suspension}/resume", json={"reason": "b"})
                lift.append(time.perf_counter() - start + await until(lambda: not gw_b.suspensions.active()))
        print("kill switch, two replicas on one PostgreSQL (suspension posted to A)")
        report("A suspends -> B enforces", enforce)
        report("A suspends -> B's call in flight answered", cancel)
        report("A resumes -> B lets calls through", lift)


async def guard_cost(calls: int, tmp: Path) -> None:
    store = await SQLiteSuspensionStore.open(tmp / "guard.db")
    service = SuspensionService(store, _NoAudit(), None, IncidentMetrics(CollectorRegistry()))
    principal = Principal("agent-1", ("tester",))

    async def request() -> int:
        await asyncio.sleep(0)
        return 1

    start = time.perf_counter()
    for _ in range(calls):
        await request()
    direct = (time.perf_counter() - start) / calls
    start = time.perf_counter()
    for _ in range(calls):
        await service.forward(principal, request())
    guarded = (time.perf_counter() - start) / calls
    await store.close()
    engine = PolicyEngine.load(tmp / "policies")
    args = {"text": "x"}
    start = time.perf_counter()
    for _ in range(calls):
        engine.decide(principal, "echo", "echo", args, {})
    decide = (time.perf_counter() - start) / calls
    print(f"cost per call ({calls} calls)")
    print(f"  upstream request awaited directly      {direct * 1e6:7.1f} µs")
    print(f"  through the suspension guard           {guarded * 1e6:7.1f} µs  (+{(guarded - direct) * 1e6:.1f} µs)")
    print(f"  policy decision (the shadow adds one)  {decide * 1e6:7.1f} µs")


class _NoAudit:
    async def append(self, kind: str, data: dict[str, Any], call_id: str | None = None) -> None:
        return None


def report(name: str, times: list[float]) -> None:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[min(len(ms) - 1, int(0.95 * len(ms)))]
    print(f"  {name:<44} n={len(ms):<3} p50 {statistics.median(ms):7.1f} ms  p95 {p95:7.1f} ms  max {ms[-1]:7.1f} ms")


async def main(rounds: int) -> None:
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(POSTGRES)
    tmp = Path(tempfile.mkdtemp())
    try:
        await propagation(rounds, tmp, f"{POSTGRES}?schema={schema}")
        await guard_cost(20_000, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        await admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    asyncio.run(main(parser.parse_args().rounds))
