"""Audit log figures: group-commit throughput, the latency one append adds, and the time
to verify a large log. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_audit.py [--records 100000] [--writers 64] [--verify-records 1000000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from gateway.audit import AuditLog
from gateway.audit.checkpoint import generate_key, private_pem
from gateway.audit.query import CallQuery
from gateway.audit.search import AuditQueries
from gateway.audit.sqlite_store import SqliteAuditStore, iter_log
from gateway.audit.verify import verify
from gateway.config import AuditSettings


def _data(i: int) -> dict:
    """A call.received record of about 500 bytes, as the pipeline writes it."""
    return {
        "principal": {"subject": f"agent-{i % 50}", "roles": ["clerk", "reader"], "tenant": "acme", "issuer": "idp"},
        "connector": "sap",
        "tool": "search_orders",
        "arguments": {"customer": f"C-{i}", "limit": 50, "status": "open", "password": "[REDACTED]"},
        "arguments_digest": "3f" * 32,
        "trace_id": f"{i:032x}",
        "traceparent": f"00-{i:032x}-{i:016x}-01",
        "front_door": "mcp",
        "client": "127.0.0.1",
    }


async def _open(directory: Path, name: str) -> AuditLog:
    key = directory / "key.pem"
    if not key.exists():
        key.write_bytes(private_pem(generate_key()))
    settings = AuditSettings(
        database=str(directory / name),
        signing_key_file=str(key),
        checkpoint_every_records=1000,
        checkpoint_every_seconds=10,
    )
    return await AuditLog.open(settings)


async def _writers(log: AuditLog, writers: int, per_writer: int, latencies: list[float] | None) -> None:
    async def writer(w: int) -> None:
        for j in range(per_writer):
            i = w * per_writer + j
            start = time.perf_counter()
            await log.append("call.received", _data(i), call_id=f"call-{i}")
            if latencies is not None:
                latencies.append(time.perf_counter() - start)

    await asyncio.gather(*(writer(w) for w in range(writers)))


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f} ms"


async def throughput(directory: Path, records: int, writers: int) -> None:
    log = await _open(directory, "throughput.db")
    latencies: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    await _writers(log, writers, records // writers, latencies)
    elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
    await log.close()
    latencies.sort()
    n = len(latencies)
    print(
        f"group commit, {writers} concurrent writers: {n} durable records in {elapsed:.2f} s = "
        f"{n / elapsed:,.0f} records/s (CPU {cpu / n * 1e6:.1f} µs/record, all threads); "
        f"append latency p50 {_ms(latencies[n // 2])}, p99 {_ms(latencies[int(n * 0.99)])}"
    )


async def single_append_latency(directory: Path, samples: int) -> None:
    """One call at a time: the latency one append adds to a call (a durable commit each)."""
    log = await _open(directory, "latency.db")
    latencies: list[float] = []
    await _writers(log, 1, 200, None)  # warm up
    await _writers(log, 1, samples, latencies)
    await log.close()
    print(
        f"one append at a time: p50 {_ms(statistics.median(latencies))}, "
        f"p99 {_ms(sorted(latencies)[int(samples * 0.99)])} ({samples} samples)"
    )


_BUILD_START = [0.0]


async def build_large(directory: Path, records: int) -> Path:
    log = await _open(directory, "large.db")
    _BUILD_START[0] = time.time()
    start = time.perf_counter()
    await _writers(log, 256, records // 256, None)
    elapsed = time.perf_counter() - start
    await log.close()
    print(f"built a {records:,}-record log in {elapsed:.1f} s ({records / elapsed:,.0f} records/s, 256 writers)")
    return directory / "large.db"


def time_verify(db: Path, directory: Path) -> None:
    from gateway.audit.checkpoint import load_private_key

    public = load_private_key(directory / "key.pem").public_key()
    start = time.perf_counter()
    report = verify(iter_log(db), public)
    elapsed = time.perf_counter() - start
    print(
        f"verify: {report.records:,} records and {report.checkpoints:,} checkpoints in {elapsed:.2f} s "
        f"({report.records / elapsed:,.0f} records/s), ok={report.ok}"
    )


async def queries(db: Path, records: int) -> None:
    """Search and show on the large log: the fields they filter on are read from each record."""
    store = SqliteAuditStore(db, create=False)
    await store.open()
    try:
        ask = AuditQueries(store)
        for label, run in (
            ("search --agent (one agent of 50, first 100 calls)", ask.calls(CallQuery(agent="agent-7"))),
            ("search --agent --since/--until (a tenth of the log)", ask.calls(_tenth(await store.latest(1)))),
            ("show TRACE_ID (a call in the middle)", ask.trace(f"{records // 2:032x}")),
        ):
            start = time.perf_counter()
            found = await run
            print(f"{label}: {len(found)} calls in {time.perf_counter() - start:.3f} s")
    finally:
        await store.close()


def _tenth(newest: list) -> CallQuery:
    until = newest[0].ts
    return CallQuery(agent="agent-7", since=until - (until - _BUILD_START[0]) / 10, until=until)


async def reopen(db: Path, directory: Path) -> None:
    start = time.perf_counter()
    log = await _open(directory, db.name)
    elapsed = time.perf_counter() - start
    await log.close()
    print(f"open (restoring the Merkle frontier) of {db.name}: {elapsed:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--writers", type=int, default=64)
    parser.add_argument("--latency-samples", type=int, default=2000)
    parser.add_argument("--verify-records", type=int, default=1_000_000)
    parser.add_argument("--dir", type=Path, help="Directory for the databases (default: a temporary one).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        directory = Path(tmp)
        asyncio.run(throughput(directory, args.records, args.writers))
        asyncio.run(single_append_latency(directory, args.latency_samples))
        if args.verify_records:
            large = asyncio.run(build_large(directory, args.verify_records))
            time_verify(large, directory)
            asyncio.run(queries(large, args.verify_records))
            asyncio.run(reopen(large, directory))


if __name__ == "__main__":
    main()
