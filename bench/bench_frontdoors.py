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
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import LoadResult, run_load
from bench.stack import echo_stack

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

    async with echo_stack() as stack:
        mcp = await run_load(
            f"{stack.gateway}/mcp", "echo.echo", ARGUMENTS, token=stack.token, agents=args.agents, seconds=args.seconds
        )
        rest = await rest_load(stack.gateway, stack.token, agents=args.agents, seconds=args.seconds, replay=False)
        replayed = await rest_load(stack.gateway, stack.token, agents=args.agents, seconds=args.seconds, replay=True)
    print(f"{args.agents} agents, {args.seconds:g} s each, {os.cpu_count()} CPUs, echo tool through the gateway")
    print(mcp.line("MCP front door"))
    print(rest.line("REST front door"))
    print(replayed.line("REST Idempotency-Key replays"))
    print(f"throughput ratio REST/MCP: {rest.rate / mcp.rate:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
