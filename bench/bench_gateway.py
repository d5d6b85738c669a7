"""The same echo tool called directly on an upstream MCP server and through the gateway
(JWT, policy, audit all on), in one run. Prints calls/s, p50, p99 and the ratio.

    .venv/bin/python bench/bench_gateway.py [--agents 16] [--seconds 10] [--mode auto|legacy]

Servers run in their own processes on loopback ports; the load generator here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import run_load
from bench.stack import echo_stack


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mode", default="auto", choices=["auto", "legacy", "2026-07-28"])
    args = parser.parse_args()

    arguments = {"text": "hello from the benchmark"}
    common = dict(agents=args.agents, seconds=args.seconds, mode=args.mode)
    async with echo_stack() as stack:
        direct = await run_load(stack.upstream_mcp, "echo", arguments, **common)
        governed = await run_load(f"{stack.gateway}/mcp", "echo.echo", arguments, token=stack.token, **common)
        async with httpx.AsyncClient() as http:
            stages = stage_means((await http.get(stack.metrics)).text)
    print(f"{args.agents} agents, {args.seconds:g} s each, protocol mode {args.mode}, {os.cpu_count()} CPUs")
    print(direct.line("direct upstream"))
    print(governed.line("through the gateway"))
    print(f"throughput ratio gateway/direct: {governed.rate / direct.rate:.2f}")
    print(f"p50 added by the gateway: {(governed.percentile(50) - direct.percentile(50)) * 1000:.2f} ms")
    print("mean time per stage inside the gateway (from its /metrics):")
    for stage, seconds in stages.items():
        print(f"  {stage:10} {seconds * 1000:8.3f} ms")


def stage_means(exposition: str) -> dict[str, float]:
    """Mean seconds per stage, from the gateway's stage histogram (and the end-to-end one)."""
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for line in exposition.splitlines():
        for metric, label in (
            ("gateway_stage_duration_seconds", 'stage="'),
            ("gateway_tool_call_duration_seconds", 'connector="'),
        ):
            if not line.startswith(metric) or label not in line:
                continue
            name = line.split(label, 1)[1].split('"', 1)[0]
            name = "total" if metric == "gateway_tool_call_duration_seconds" else name
            value = float(line.rsplit(" ", 1)[1])
            if line.startswith(f"{metric}_sum"):
                sums[name] = value
            elif line.startswith(f"{metric}_count"):
                counts[name] = value
    return {name: sums[name] / counts[name] for name in sums if counts.get(name)}


if __name__ == "__main__":
    asyncio.run(main())
