"""Policy decision time: the fast evaluator beside pycasbin on the same generated policy.

    .venv/bin/python bench/bench_policy.py [--rules 2000 --roles 200 --links 1000 --requests 50000]

Prints p50/p95/p99 per decision for the fast path with its per-(caller, tool) candidate
cache warm, the same with the cache cleared before every call (first call of a caller
for a tool), and pycasbin's enforcer running the same model and rows.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

# The generated policy lives with the tests; the bench runs from any directory.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.models import Decision
from gateway.policy.engine import PolicyEngine
from gateway.policy.reference import ReferenceEvaluator
from tests.support.synthetic_policy import Request, Synthetic


def timings(
    decide: Callable[..., Decision], requests: list[Request], before: Callable[[], None] | None = None
) -> list[int]:
    spent: list[int] = []
    for request in requests:
        if before is not None:
            before()
        start = time.perf_counter_ns()
        decide(request.principal, request.connector, request.tool, request.arguments, request.context)
        spent.append(time.perf_counter_ns() - start)
    return spent


def show(label: str, spent: list[int]) -> None:
    cuts = statistics.quantiles(spent, n=100)
    print(f"{label:<34} p50 {cuts[49] / 1000:9.1f} us   p95 {cuts[94] / 1000:9.1f} us   p99 {cuts[98] / 1000:9.1f} us")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rules", type=int, default=2000)
    parser.add_argument("--roles", type=int, default=200)
    parser.add_argument("--links", type=int, default=1000)
    parser.add_argument("--subjects", type=int, default=300)
    parser.add_argument("--tools", type=int, default=200)
    parser.add_argument("--requests", type=int, default=50_000)
    parser.add_argument("--reference-requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    options = parser.parse_args()

    synthetic = Synthetic(
        options.seed,
        rules=options.rules,
        roles=options.roles,
        links=options.links,
        subjects=options.subjects,
        tools=options.tools,
    )
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        engine = PolicyEngine.load(synthetic.write(Path(tmp)))
        load_ms = (time.perf_counter() - started) * 1000
    policy = engine.policy
    conditional = sum(1 for rule in policy.rules if rule.condition.test is not None)
    print(
        f"policy: {len(policy.rules)} p rows ({conditional} with conditions), {len(policy.links)} g rows, "
        f"{len(synthetic.roles)} roles, {len(synthetic.tools)} tools; load+check+compile {load_ms:.1f} ms"
    )
    requests = list(synthetic.requests(options.requests))
    timings(engine.decide, requests)  # warm the candidate cache as steady traffic would
    show("fast (candidate cache warm)", timings(engine.decide, requests))
    show("fast (candidate cache cleared)", timings(engine.decide, requests[:5000], engine.clear_cache))
    started = time.perf_counter()
    reference = ReferenceEvaluator(policy)
    print(f"pycasbin enforcer built in {(time.perf_counter() - started) * 1000:.1f} ms")
    show("pycasbin (3 matchers, enforce_ex)", timings(reference.decide, requests[: options.reference_requests]))


if __name__ == "__main__":
    main()
