"""The two front doors side by side: the same echo call through the gateway's MCP front
door (official SDK client) and its REST front door (plain HTTP, JSON body), and REST
retries answered from the Idempotency-Key store. Prints calls/s, p50, p99.

    .venv/bin/python bench/bench_frontdoors.py [--agents 16] [--seconds 10]

Servers run in their own processes on loopback ports; the load generators here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.bench_gateway import SECRET, start, wait_ready
from bench.loadgen import LoadResult, run_load
from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier
from gateway.serving import free_port

REPO = Path(__file__).resolve().parent.parent
ARGUMENTS = {"text": "hello from the benchmark"}


async def rest_load(
    base: str, token: str, *, agents: int, seconds: float, replay: bool, max_calls: int = 100_000
) -> LoadResult:
    """N agents posting calls; with `replay`, each agent repeats one Idempotency-Key."""
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = time.perf_counter() + seconds

    async def agent(number: int) -> None:
        nonlocal errors, issued
        headers = {"Authorization": f"Bearer {token}"}
        if replay:
            headers["Idempotency-Key"] = f"bench-{number}"
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as http:
            while issued < max_calls and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                response = await http.post("/v1/tools/echo.echo:call", json=ARGUMENTS)
                latencies.append(time.perf_counter() - t0)
                if response.status_code != 200:
                    errors += 1

    started = time.perf_counter()
    await asyncio.gather(*(agent(n) for n in range(agents)))
    return LoadResult(len(latencies), errors, time.perf_counter() - started, tuple(latencies))


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()

    upstream_port, gateway_port = free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "gateway.yaml"
        config.write_text(
            f"""
server: {{host: 127.0.0.1, port: {gateway_port}}}
identity: {{secret: {SECRET}}}
policy: {{directory: {REPO / "policies"}, watch: false}}
audit: {{database: {Path(tmp) / "audit.db"}}}
connectors:
  echo: {{kind: mcp, url: "http://127.0.0.1:{upstream_port}/mcp", timeout_seconds: 30}}
"""
        )
        upstream = start(
            [sys.executable, "-m", "connectors.mcp.stub", "--port", str(upstream_port)], Path(tmp) / "upstream.log"
        )
        gateway = start(
            [sys.executable, "-m", "gateway.cli", "serve", "--config", str(config)], Path(tmp) / "gateway.log"
        )
        base = f"http://127.0.0.1:{gateway_port}"
        try:
            await wait_ready(f"http://127.0.0.1:{upstream_port}/mcp", upstream)
            await wait_ready(f"{base}/healthz", gateway)
            token = TokenVerifier(IdentitySettings(secret=SECRET), REPO).mint("bench-agent", ("tester",))
            mcp = await run_load(
                f"{base}/mcp", "echo.echo", ARGUMENTS, token=token, agents=args.agents, seconds=args.seconds
            )
            rest = await rest_load(base, token, agents=args.agents, seconds=args.seconds, replay=False)
            replayed = await rest_load(base, token, agents=args.agents, seconds=args.seconds, replay=True)
        finally:
            for process in (gateway, upstream):
                process.terminate()
                process.wait(timeout=10)
    print(f"{args.agents} agents, {args.seconds:g} s each, {os.cpu_count()} CPUs, echo tool through the gateway")
    print(mcp.line("MCP front door"))
    print(rest.line("REST front door"))
    print(replayed.line("REST Idempotency-Key replays"))
    print(f"throughput ratio REST/MCP: {rest.rate / mcp.rate:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
