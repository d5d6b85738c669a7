"""Result inspection: the time the inspect stage adds per call, and the screening corpus rates.

    .venv/bin/python bench/bench_inspect.py [--rounds 2000]

Two results shaped like the stubs' answers go through the shipped policy's result rules
for the caller they would reach: a 10 KB SAP vendor search for a procurement agent
(redact bank fields, mask identifiers, screen), once as the stub answers (vendors share a
name, city and note) and once with no value repeated, and a 500-row `oracle.query` for a
finance agent (redact salaries, cut to 200 rows, screen). Each is timed beside a JSON round
trip of the same result (parse and serialise once: the least any stage that reads a result
costs), the two alternating so that both meet the same load.
Then the screening corpus: detection on published poisoning samples, false positives on the
benign set, the stubs' descriptions and the stubs' normal results, and the detectors'
findings outside the sensitive fields of those results.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway.inspect.apply import inspect_result
from gateway.models import Principal, ToolResult
from gateway.policy.engine import PolicyEngine
from tests.inspect.corpus_rates import (
    benign,
    detector_false_positives,
    result_texts,
    screening_rates,
    stub_descriptions,
)
from tests.inspect.stub_results import stub_results

REPO = Path(__file__).resolve().parent.parent


def as_result(data: Any) -> ToolResult:
    text = json.dumps(data, ensure_ascii=False)
    return ToolResult(content=({"type": "text", "text": text},), structured=json.loads(text))


def vendors_10kb(*, distinct: bool = False) -> ToolResult:
    """Vendor records as a search returns them; `distinct`: no two share a name, city or
    note (inspection tests each distinct value once, so repeated values cost less)."""
    vendor = {
        "Supplier": "0000100001", "SupplierName": "Acme Industrial Supplies", "Country": "DE", "CityName": "Hamburg",
        "IsBlocked": False, "TaxNumber1": "27/273/01234", "IBAN": "DE89370400440532013000", "BankAccount": "0532013000",
        "Note": "Call +49 40 12345678 before delivery; invoices to ap@acme.example.com, order 4500000001.",
    }  # fmt: skip
    vendors = [dict(vendor, Supplier=f"{100001 + i:010d}", **(_distinct(i) if distinct else {})) for i in range(40)]
    data = {"vendors": vendors, "total": 40, "top": 40, "skip": 0}
    while len(json.dumps(data)) > 10_240:
        vendors.pop()
    return as_result(data)


def _distinct(i: int) -> dict[str, str]:
    return {
        "SupplierName": f"Acme Industrial Supplies {i} GmbH",
        "CityName": f"Hamburg-{i}",
        "Note": f"Call +49 40 1234{i:04d} before delivery {i}; invoices to ap{i}@acme.example.com, order 45000{i:05d}.",
    }


def query_500_rows() -> ToolResult:
    rows = [
        {"employee_id": 100 + i, "first_name": "Steven", "last_name": f"King{i}", "email": f"SKING{i}",
         "hire_date": "2013-06-17", "job_id": "AD_PRES", "salary": 24000 + i, "manager_id": None, "department_id": 90}
        for i in range(500)
    ]  # fmt: skip
    return as_result({"columns": list(rows[0]), "rows": rows, "has_more": False})


def time_both(work: Callable[[], object], baseline: Callable[[], object], rounds: int) -> tuple[list[float], ...]:
    """Each round times the baseline, then the work: both meet the same load on a shared machine."""
    spent: tuple[list[float], list[float]] = ([], [])
    for _ in range(rounds):
        for what, into in ((baseline, spent[1]), (work, spent[0])):
            start = time.perf_counter()
            what()
            into.append(time.perf_counter() - start)
    return spent


def show(label: str, spent: list[float], baseline: list[float]) -> None:
    cuts = statistics.quantiles(spent, n=100)
    ratio = cuts[49] / statistics.median(baseline)
    print(f"{label:<44} p50 {cuts[49] * 1e6:8.1f} us  p95 {cuts[94] * 1e6:8.1f} us  ({ratio:.1f}x a JSON round trip)")


def bench(engine: PolicyEngine, label: str, principal: Principal, tool: str, result: ToolResult, rounds: int) -> None:
    connector, name = tool.split(".", 1)
    rules = engine.results.for_call(principal, connector, name)
    text = str(result.content[0]["text"])
    inspected = inspect_result(rules, result)
    print(f"{label}: {len(text.encode())} bytes, rules {', '.join(r.location for r in rules)}")
    print(f"  outcome: {inspected.outcome.record()}")

    def inspect() -> object:
        return inspect_result(engine.results.for_call(principal, connector, name), result)

    spent, baseline = time_both(inspect, lambda: json.dumps(json.loads(text), ensure_ascii=False), rounds)
    show("  inspect (rules selected + applied)", spent, baseline)
    show("  JSON round trip of the same result", baseline, baseline)


async def corpus() -> None:
    with tempfile.TemporaryDirectory() as workdir:
        results = await stub_results(workdir)
    rates = screening_rates(benign() + stub_descriptions() + result_texts(results))
    print(rates.line())
    if rates.missed:
        print(f"  missed: {'; '.join(rates.missed)}")
    scanned, wrong, what = detector_false_positives(results)
    print(
        f"detectors: {wrong} findings outside bank/tax/contact fields"
        f" in {scanned} values of {len(results)} stub results"
    )
    for line in what:
        print(f"  {line}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2000)
    args = parser.parse_args()
    engine = PolicyEngine.load(REPO / "policies")
    agent = Principal("buyer-bot", ("procurement-agent",))
    finance = Principal("analyst-bot", ("finance-agent",))
    bench(engine, "10 KB vendor search, procurement agent", agent, "sap.search_vendors", vendors_10kb(), args.rounds)
    distinct = vendors_10kb(distinct=True)
    bench(engine, "the same, no value repeated", agent, "sap.search_vendors", distinct, args.rounds)
    rounds = max(50, args.rounds // 10)
    bench(engine, "500-row SQL result, finance agent", finance, "oracle.query", query_500_rows(), rounds)
    asyncio.run(corpus())


if __name__ == "__main__":
    main()
