"""Operations figures: audit append throughput on SQLite and PostgreSQL, with one writer
and with two replicas sharing one PostgreSQL chain; and the cost of a /metrics scrape.
Prints figures; asserts nothing. Needs PostgreSQL on 127.0.0.1:5432 (trust, db `test`).

    .venv/bin/python bench/bench_ops.py [--records 20000] [--writers 64]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg

from gateway.audit import AuditLog
from gateway.config import AuditSettings
from gateway.metrics import Metrics

POSTGRES = "postgresql://127.0.0.1:5432/test"


def _data(i: int) -> dict:
    """About the size of a call.received record."""
    return {
        "principal": {"subject": f"agent-{i % 50}", "roles": ["clerk"], "tenant": "acme", "issuer": "idp"},
        "connector": "sap",
        "tool": "search_orders",
        "arguments": {"customer": f"C-{i}", "limit": 50, "status": "open"},
        "arguments_digest": "3f" * 32,
        "trace_id": f"{i:032x}",
        "front_door": "mcp",
    }


async def _run(logs: list[AuditLog], records: int, writers: int) -> tuple[float, list[float]]:
    per_writer = records // writers
    latencies: list[float] = []

    async def writer(w: int) -> None:
        log = logs[w % len(logs)]
        for j in range(per_writer):
            start = time.perf_counter()
            await log.append("call.received", _data(w * per_writer + j), call_id=f"c{w}-{j}")
            latencies.append(time.perf_counter() - start)

    start = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return time.perf_counter() - start, latencies


def _report(name: str, elapsed: float, latencies: list[float]) -> None:
    latencies.sort()
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"{name:<44} {len(latencies) / elapsed:>9.0f} appends/s   p50 {p50:6.2f} ms   p99 {p99:6.2f} ms")


async def audit(records: int, writers: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = await AuditLog.open(AuditSettings(database=str(Path(tmp) / "audit.db")))
        elapsed, latencies = await _run([log], records, writers)
        await log.close()
        _report(f"sqlite, 1 writer, {writers} concurrent callers", elapsed, latencies)

    admin = await asyncpg.connect(POSTGRES)
    try:
        for replicas in (1, 2):
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            settings = AuditSettings(database=f"{POSTGRES}?schema={schema}")
            logs = [await AuditLog.open(settings) for _ in range(replicas)]
            try:
                elapsed, latencies = await _run(logs, records, writers)
            finally:
                for log in logs:
                    await log.close()
                await admin.execute(f'DROP SCHEMA "{schema}" CASCADE')
            _report(f"postgresql, {replicas} replica(s), {writers} concurrent callers", elapsed, latencies)
    finally:
        await admin.close()


def scrape(connectors: int, tools: int) -> None:
    metrics = Metrics()
    for c in range(connectors):
        for t in range(tools):
            for outcome in ("ok", "denied", "backend_error"):
                metrics.tool_calls.labels(f"c{c}", f"t{t}", "allow", outcome).inc()
        metrics.call_duration.labels(f"c{c}").observe(0.01)
    runs = 200
    start = time.perf_counter()
    for _ in range(runs):
        body = metrics.render()
    per_scrape = (time.perf_counter() - start) / runs * 1000
    print(f"/metrics with {connectors} connectors x {tools} tools: {len(body) / 1024:.0f} KiB, {per_scrape:.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=64)
    args = parser.parse_args()
    asyncio.run(audit(args.records, args.writers))
    scrape(5, 20)
    scrape(20, 50)


if __name__ == "__main__":
    main()
