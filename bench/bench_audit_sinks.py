"""Does a SIEM sink slow tool calls? The same MCP load through the gateway with no audit
sink, with a healthy Splunk HEC receiver, with a dead one (connection refused) and with a
hung one (accepts, never answers), against direct calls to the upstream in the same run.

    .venv/bin/python bench/bench_audit_sinks.py [--seconds 5] [--agents 8]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import LoadResult, run_load
from bench.stack import echo_stack
from gateway.serving import free_port, running

ARGS = {"a": 2, "b": 3}
#: The sink's token is a secret: a reference to this variable, which the gateway inherits.
HEC_TOKEN_VARIABLE = "BENCH_HEC_TOKEN"
os.environ.setdefault(HEC_TOKEN_VARIABLE, "bench-hec-token")


def sink_config(url: str) -> str:
    return f"""
audit_streaming:
  poll_seconds: 0.05
  sinks:
    - {{kind: splunk_hec, name: bench, url: "{url}", token: "${{env:{HEC_TOKEN_VARIABLE}}}", batch_size: 500,
       timeout_seconds: 10}}
"""


async def hung_server() -> tuple[asyncio.Server, int]:
    """Accepts connections and reads forever without answering."""

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


async def measure(extra: str, seconds: float, agents: int) -> tuple[LoadResult, LoadResult]:
    async with echo_stack(extra) as stack:
        direct = await run_load(stack.upstream_mcp, "add", ARGS, agents=agents, seconds=seconds)
        gateway = await run_load(
            f"{stack.gateway}/mcp", "echo.add", ARGS, token=stack.token, agents=agents, seconds=seconds
        )
    return direct, gateway


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--agents", type=int, default=8)
    parser.add_argument(
        "--rounds", type=int, default=3, help="cases run in turn this often (the machine's load drifts)"
    )
    options = parser.parse_args()
    received = 0

    async def hec(request: Request) -> JSONResponse:
        nonlocal received
        received += (await request.body()).count(b'"event":')
        return JSONResponse({"text": "Success", "code": 0})

    hung, hung_port = await hung_server()
    cases = {"no sink": ""}
    async with running(Starlette(routes=[Route("/services/collector/event", hec, methods=["POST"])])) as hec_url:
        cases["healthy HEC sink"] = sink_config(hec_url)
        cases["dead sink (refused)"] = sink_config(f"http://127.0.0.1:{free_port()}")
        cases["hung sink (never answers)"] = sink_config(f"http://127.0.0.1:{hung_port}")
        runs: dict[str, list[tuple[LoadResult, LoadResult]]] = {name: [] for name in cases}
        for _ in range(options.rounds):
            for name, extra in cases.items():
                runs[name].append(await measure(extra, options.seconds, options.agents))
    hung.close()
    print(
        f"{options.agents} agents, {options.seconds:g} s per run, {options.rounds} rounds;"
        " ratio = gateway p50 / direct p50 of the same run (median over rounds)"
    )
    for name, pairs in runs.items():
        ratios = sorted(gateway.percentile(50) / direct.percentile(50) for direct, gateway in pairs)
        median = pairs[len(pairs) // 2][1]
        each = ", ".join(f"{r:.2f}" for r in ratios)
        print(f"  {median.line(name)}  ratio {statistics.median(ratios):5.2f}  (rounds: {each})")
    print(f"  records the healthy sink received: {received}")


if __name__ == "__main__":
    asyncio.run(main())
