"""Abuse figures, in one run against a gateway in its own process (JWT, policy, durable
SQLite audit on, shipped `guards` defaults):

1. 10,000 requests with a bad token from one source: how many audit records they added,
   how many were answered 429, and a legitimate agent's p50 before and during the flood.
2. 10,000 MCP sessions attempted with one token: how many were opened, the gateway's RSS
   before and after, and a legitimate agent's p50 during.

    .venv/bin/python -u bench/abuse.py [--requests 10000] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import sqlite3
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import LoadResult, run_load
from bench.stack import REPO, SECRET, EchoStack, echo_stack
from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def audit_records(stack: EchoStack, kind: str | None = None) -> int:
    with sqlite3.connect(f"file:{stack.audit_db}?mode=ro", uri=True) as db:
        if kind is None:
            return int(db.execute("SELECT count(*) FROM audit_records").fetchone()[0])
        rows = db.execute("SELECT body FROM audit_records").fetchall()
    return sum(f'"kind":"{kind}"' in str(body) for (body,) in rows)


async def hammer(
    requests: int, concurrency: int, send: Callable[[], Awaitable[httpx.Response]]
) -> collections.Counter[int]:
    statuses: collections.Counter[int] = collections.Counter()
    left = requests

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            statuses[(await send()).status_code] += 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def agent_during(
    stack: EchoStack, flood: Awaitable[collections.Counter[int]]
) -> tuple[LoadResult, collections.Counter[int], float]:
    """Another agent (its own principal) calling while `flood` runs."""
    started = time.perf_counter()
    flooding = asyncio.ensure_future(flood)
    other = TokenVerifier(IdentitySettings(secret=SECRET), REPO).mint("other-agent", ("tester",))
    agent = await run_load(
        f"{stack.gateway}/mcp", "echo.echo", {"text": "hi"}, token=other, agents=1, seconds=5, warmup_calls=2
    )
    statuses = await flooding
    return agent, statuses, time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    async with echo_stack() as stack, httpx.AsyncClient(timeout=30) as http:
        quiet = await run_load(
            f"{stack.gateway}/mcp", "echo.echo", {"text": "hi"}, token=stack.token, agents=1, seconds=5, warmup_calls=2
        )
        print(quiet.line("agent, quiet gateway"))

        before = audit_records(stack, "auth.failed")
        bad = {**MCP_ACCEPT, "Authorization": "Bearer not-a-valid-token"}
        flood = hammer(
            args.requests, args.concurrency, lambda: http.post(f"{stack.gateway}/mcp", json=INITIALIZE, headers=bad)
        )
        agent, statuses, seconds = await agent_during(stack, flood)
        await asyncio.sleep(1)
        print(f"--- {args.requests} requests with a bad token, {args.concurrency} at a time, in {seconds:.1f} s")
        print(f"answers: {dict(sorted(statuses.items()))}")
        added = audit_records(stack, "auth.failed") - before
        print(f"auth.failed audit records added: {added} (+1 summary per source, reason and path when the window ends)")
        print(agent.line("agent, during the flood"))

        rss_before = rss_mib(stack.gateway_pid)
        good = {**MCP_ACCEPT, "Authorization": f"Bearer {stack.token}"}
        opening = hammer(
            args.requests, args.concurrency, lambda: http.post(f"{stack.gateway}/mcp", json=INITIALIZE, headers=good)
        )
        agent, statuses, seconds = await agent_during(stack, opening)
        print(
            f"--- {args.requests} MCP sessions attempted with one token, {args.concurrency} at a time,"
            f" in {seconds:.1f} s"
        )
        print(f"answers: {dict(sorted(statuses.items()))}")
        print(f"gateway RSS: {rss_before:.1f} MiB before, {rss_mib(stack.gateway_pid):.1f} MiB after")
        print(agent.line("agent, during the sessions"))


if __name__ == "__main__":
    asyncio.run(main())
