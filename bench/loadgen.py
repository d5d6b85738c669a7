"""Load generator on the official MCP client: N concurrent agents, each with its own
session, calling one tool until a call count or a time limit is reached. Loopback only.
`connector_load` drives one connector directly the same way, without the gateway."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from connectors.base import CallContext, Connector
from gateway.models import Principal

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


@dataclass(frozen=True)
class LoadResult:
    calls: int
    errors: int
    seconds: float
    latencies: tuple[float, ...]

    @property
    def rate(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    def line(self, label: str) -> str:
        return (
            f"{label:28} {self.rate:8.1f} calls/s  p50 {self.percentile(50) * 1000:7.2f} ms  "
            f"p99 {self.percentile(99) * 1000:7.2f} ms  errors {self.errors}"
        )


async def run_load(
    url: str,
    tool: str,
    arguments: dict[str, Any],
    *,
    token: str | None = None,
    agents: int = 16,
    seconds: float = 10.0,
    max_calls: int = 100_000,
    mode: str = "auto",
    warmup_calls: int = 20,
) -> LoadResult:
    if urlsplit(url).hostname not in LOOPBACK:
        raise ValueError("the load generator only targets loopback addresses")
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    latencies: list[float] = []
    errors = 0
    issued = 0
    deadline = 0.0
    ready = asyncio.Barrier(agents + 1)
    go = asyncio.Event()

    async def agent() -> None:
        nonlocal errors, issued
        http = httpx2.AsyncClient(headers=headers, timeout=httpx2.Timeout(30, read=60))
        async with http, Client(streamable_http_client(url, http_client=http), mode=mode, cache=None) as client:
            for _ in range(warmup_calls):
                await client.call_tool(tool, arguments)
            await ready.wait()
            await go.wait()
            while issued < max_calls and time.perf_counter() < deadline:
                issued += 1
                t0 = time.perf_counter()
                result = await client.call_tool(tool, arguments)
                latencies.append(time.perf_counter() - t0)
                if result.is_error:
                    errors += 1

    tasks = [asyncio.create_task(agent()) for _ in range(agents)]
    await ready.wait()
    started = time.perf_counter()
    deadline = started + seconds
    go.set()
    await asyncio.gather(*tasks)
    elapsed = time.perf_counter() - started
    return LoadResult(len(latencies), errors, elapsed, tuple(latencies))


async def connector_load(
    connector: Connector, tool: str, arguments: dict[str, Any], *, calls: int, concurrency: int
) -> LoadResult:
    """`calls` calls of `tool` made straight to a started `connector`, `concurrency` at a
    time, after one call that connects and fetches any token."""
    context = CallContext(call_id="bench", principal=Principal("bench"), traceparent="", timeout=10.0)
    latencies: list[float] = []
    remaining = iter(range(calls))

    async def worker() -> None:
        for _ in remaining:
            start = time.perf_counter()
            await connector.call(tool, arguments, context)
            latencies.append(time.perf_counter() - start)

    await connector.call(tool, arguments, context)
    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return LoadResult(calls, 0, time.perf_counter() - started, tuple(latencies))
