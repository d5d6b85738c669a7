"""Hold 1,000 calls at once, then decide them: prints memory per held call, how long an
approver's page of 50 (scoped to what it may see, with the total) takes to list, and how
long a decision takes to release its held call (from the vote request to the hold returning).

    .venv/bin/python bench/bench_approvals.py [--calls 1000] [--sample 200]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from gateway.approvals import ApprovalFilter, ApprovalService
from gateway.audit import AuditLog
from gateway.config import ApprovalSettings, AuditSettings
from gateway.models import Decision, Effect, Principal, ToolCall

AGENT = Principal(subject="bench-agent", roles=("agent",))
APPROVER = Principal(subject="bench-approver", roles=("approver",))
DECISION = Decision(Effect.APPROVE, "bench.csv:1", "bench", "v1", approvals_required=1, approver_role="approver")


def call(i: int) -> ToolCall:
    return ToolCall(
        call_id=uuid.uuid4().hex,
        principal=AGENT,
        connector="sap",
        tool="transfer",
        arguments={"amount": i, "to": "DE89370400440532013000"},
        trace_id=uuid.uuid4().hex,
        traceparent="00-" + "0" * 31 + "1-" + "0" * 15 + "1-01",
    )


def rss() -> int:
    """Resident set size of this process in bytes (Linux)."""
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def pct(values: list[float], q: float) -> float:
    return sorted(values)[min(len(values) - 1, int(q * len(values)))]


async def list_pages(service: ApprovalService, rounds: int = 50) -> list[float]:
    """Milliseconds for the approver's first page of 50 and the total, as the API asks."""
    timings: list[float] = []
    for _ in range(rounds):
        started = time.perf_counter()
        await service.list(ApprovalFilter(limit=51), APPROVER)
        await service.count(ApprovalFilter(), APPROVER)
        timings.append((time.perf_counter() - started) * 1000)
    return timings


async def main(calls: int, sample: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        database = str(Path(tmp) / "gateway.db")
        audit = await AuditLog.open(AuditSettings(database=database))
        service = await ApprovalService.open(
            ApprovalSettings(
                database=database, max_hold_seconds=600, default_ttl_seconds=600, max_pending_per_principal=calls
            ),
            audit,
        )
        loop = asyncio.get_running_loop()
        released: dict[str, asyncio.Future[float]] = {}

        async def held(i: int) -> str:
            outcome = await service.hold(call(i), DECISION, f"{i:064x}", wait_seconds=600)
            released.setdefault(outcome.approval.approval_id, loop.create_future()).set_result(time.perf_counter())
            return outcome.action

        gc.collect()
        base = rss()
        started = time.perf_counter()
        tasks = [asyncio.create_task(held(i)) for i in range(calls)]
        # Wait until every call is held (its approval is persisted and it is waiting).
        async with asyncio.timeout(120):
            while len(pending := await service.list(ApprovalFilter(limit=calls))) < calls:
                for failed in (t for t in tasks if t.done()):
                    failed.result()  # a hold that ended early is a failure: show it
                await asyncio.sleep(0.1)
        await asyncio.sleep(0.2)
        hold_seconds = time.perf_counter() - started
        per_call = (rss() - base) / calls

        listing = await list_pages(service)
        latencies: list[float] = []
        ids = [s.approval.approval_id for s in pending]
        for approval_id in ids[:sample]:
            voted_at = time.perf_counter()
            await service.vote(approval_id, APPROVER, True, "")
            done_at = await released.setdefault(approval_id, loop.create_future())
            latencies.append((done_at - voted_at) * 1000)

        rest = ids[sample:]
        burst = time.perf_counter()
        await asyncio.gather(*(service.vote(a, APPROVER, True, "") for a in rest))
        actions = await asyncio.gather(*tasks)
        burst_seconds = time.perf_counter() - burst
        await service.close()
        await audit.close()

    assert actions.count("execute") == calls
    print(f"held calls at once:            {calls} (all persisted and waiting after {hold_seconds:.2f} s)")
    print(f"memory per held call:          {per_call / 1024:.1f} KiB (growth of the process RSS / calls)")
    print(
        f"approver's page of 50 of {calls}: p50 {statistics.median(listing):.2f} ms, max {max(listing):.2f} ms"
        " (filtered to the approver's tenant and roles, with the total count)"
    )
    print(
        f"decision -> release, {sample} one at a time: p50 {statistics.median(latencies):.2f} ms,"
        f" p95 {pct(latencies, 0.95):.2f} ms, max {max(latencies):.2f} ms (includes the audited vote)"
    )
    print(f"remaining {len(rest)} decided at once: all released in {burst_seconds:.2f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--sample", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.sample))
