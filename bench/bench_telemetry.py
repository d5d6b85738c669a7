"""What one pipeline stage costs for timing (and tracing): the inline histogram timing the
pipeline used before, `Telemetry.stage` with tracing off, and with tracing on exporting to a
local OTLP/HTTP receiver. Prints microseconds per stage.

    .venv/bin/python bench/bench_telemetry.py [--stages 100000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.config import TracingSettings
from gateway.metrics import Metrics
from gateway.serving import running
from gateway.telemetry import Telemetry


def inline(metrics: Metrics, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        stage = time.perf_counter()
        metrics.stage_duration.labels("policy").observe(time.perf_counter() - stage)
    return time.perf_counter() - started


def staged(telemetry: Telemetry, n: int) -> float:
    started = time.perf_counter()
    for _ in range(n):
        with telemetry.stage("policy"):
            pass
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", type=int, default=100_000)
    n = parser.parse_args().stages
    spans = 0

    async def receive(request: Request) -> Response:
        nonlocal spans
        spans += 1
        await request.body()
        return Response(b"", media_type="application/x-protobuf")

    off = Telemetry(TracingSettings(), Metrics())
    async with running(Starlette(routes=[Route("/v1/traces", receive, methods=["POST"])])) as url:
        on = Telemetry(TracingSettings(otlp_endpoint=url), Metrics())
        on.start()
        # The timing loops run in a thread so the receiver keeps serving the exporter.
        figures = {
            "inline histogram (before)": await asyncio.to_thread(inline, Metrics(), n),
            "stage(), tracing off": await asyncio.to_thread(staged, off, n),
            "stage(), tracing on": await asyncio.to_thread(staged, on, n),
        }
        await on.stop()
    print(f"{n} stages each")
    for name, seconds in figures.items():
        print(f"  {name:28} {seconds / n * 1e6:7.2f} us per stage")
    print(f"  OTLP export requests received: {spans}")


if __name__ == "__main__":
    asyncio.run(main())
