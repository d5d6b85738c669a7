"""What the input checks cost per call: the shape limits walk and JSON Schema validation
with ECMA-262 patterns and exact multipleOf, beside the plain jsonschema validator (Python
`re`, float multipleOf) and the redaction that every call pays anyway.

    .venv/bin/python bench/bench_validation.py [--rounds 20000]

Prints the median per call of each and its ratio to the plain validator.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import jsonschema

from connectors.sap.tools import tool_specs
from gateway.arguments import ArgumentLimits, check_arguments
from gateway.audit.redaction import Redactor
from gateway.config import AuditSettings
from gateway.schema import validator_for

ORDER = {"vendor_id": "0000100001", "amount": 9999.99, "currency": "EUR", "description": "Pallets, 40 of them"}
WIDE = {"items": [{"sku": f"SKU-{i:05d}", "qty": i % 7 + 1, "price": 12.5} for i in range(300)]}


def median_us(work: Callable[[], Any], rounds: int) -> float:
    spent = []
    for _ in range(rounds):
        start = time.perf_counter_ns()
        work()
        spent.append(time.perf_counter_ns() - start)
    return statistics.median(spent) / 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=20_000)
    rounds = parser.parse_args().rounds

    schema = next(s for s in tool_specs("sap") if s.name == "create_purchase_order").input_schema
    plain = jsonschema.Draft202012Validator(dict(schema))
    strict = validator_for(dict(schema))
    limits = ArgumentLimits()
    settings = AuditSettings()
    redactor = Redactor(settings.redact_keys, settings.redact_patterns, card_numbers=settings.redact_card_numbers)
    # Timed on an order both accept; they differ on others (19.99 fails float multipleOf).
    assert strict.is_valid(ORDER) and plain.is_valid(ORDER)
    assert strict.is_valid({**ORDER, "amount": 19.99}) and not plain.is_valid({**ORDER, "amount": 19.99})

    base = median_us(lambda: list(plain.iter_errors(ORDER)), rounds)
    rows = [
        ("plain jsonschema (re, float multipleOf)", base),
        ("ECMA-262 patterns + exact multipleOf", median_us(lambda: list(strict.iter_errors(ORDER)), rounds)),
        ("shape limits, purchase order", median_us(lambda: check_arguments(ORDER, limits), rounds)),
        ("redaction + digest, purchase order", median_us(lambda: redactor.redact(ORDER), rounds)),
        ("shape limits, 300 items x 3 keys", median_us(lambda: check_arguments(WIDE, limits), rounds // 10)),
        ("redaction + digest, 300 items x 3 keys", median_us(lambda: redactor.redact(WIDE), rounds // 10)),
    ]
    for label, us in rows:
        print(f"{label:<42} p50 {us:8.1f} us   {us / base:5.2f}x plain validation")


if __name__ == "__main__":
    main()
