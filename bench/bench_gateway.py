"""The same echo tool called directly on an upstream MCP server and through the gateway
(JWT, policy, audit all on), in one run. Prints calls/s, p50, p99 and the ratio.

    .venv/bin/python bench/bench_gateway.py [--agents 16] [--seconds 10] [--mode auto|legacy]

Servers run in their own processes on loopback ports; the load generator here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import run_load
from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier
from gateway.serving import free_port

REPO = Path(__file__).resolve().parent.parent
SECRET = "bench-secret-0123456789-0123456789-0123456789"


async def wait_ready(url: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
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


def start(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as sink:
        return subprocess.Popen(argv, cwd=REPO, stdout=sink, stderr=subprocess.STDOUT)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--mode", default="auto", choices=["auto", "legacy", "2026-07-28"])
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
        try:
            await wait_ready(f"http://127.0.0.1:{upstream_port}/mcp", upstream)
            await wait_ready(f"http://127.0.0.1:{gateway_port}/healthz", gateway)
            token = TokenVerifier(IdentitySettings(secret=SECRET), REPO).mint("bench-agent", ("tester",))
            arguments = {"text": "hello from the benchmark"}
            common = dict(agents=args.agents, seconds=args.seconds, mode=args.mode)
            direct = await run_load(f"http://127.0.0.1:{upstream_port}/mcp", "echo", arguments, **common)
            governed = await run_load(
                f"http://127.0.0.1:{gateway_port}/mcp", "echo.echo", arguments, token=token, **common
            )
            async with httpx.AsyncClient() as http:
                stages = stage_means((await http.get(f"http://127.0.0.1:{gateway_port}/metrics")).text)
        finally:
            for process in (gateway, upstream):
                process.terminate()
                process.wait(timeout=10)
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
