"""Connector costs: the pieces that run on every call (COBOL record codec, SQL guard, OData
filter), and calls per second through each connector to its stub on loopback, with and
without the resilience wrapper.

    .venv/bin/python bench/bench_connectors.py [--calls 2000 --concurrency 16]

Prints p50/p99 per operation for the pure functions, and calls/s with p50/p99 latency for
the connectors (stub and connector share one process and event loop, so the figures are a
lower bound for a gateway with the backend elsewhere).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import connector_load
from connectors.base import Connector
from connectors.mainframe.codec import decode, encode
from connectors.mainframe.connector import MainframeConnector
from connectors.mainframe.stub import serve_mainframe
from connectors.mainframe.transactions import load_layouts
from connectors.oracle.connector import OracleConnector
from connectors.oracle.sql_guard import check_query
from connectors.oracle.stub import create_app as ords_app
from connectors.resilience import resilient
from connectors.sap.connector import SapConnector
from connectors.sap.odata import parse_filter
from connectors.sap.stub import SERVICE_PATH
from connectors.sap.stub import create_app as sap_app
from connectors.stubkit import serve_app
from gateway.config import ConnectorSettings

#: label, connector class, its settings, tool, arguments
Case = tuple[str, Callable[[ConnectorSettings], Connector], Callable[[], ConnectorSettings], str, dict[str, Any]]


def micro(label: str, work: Callable[[], object], runs: int = 20_000) -> None:
    spent = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        work()
        spent.append(time.perf_counter_ns() - start)
    cuts = statistics.quantiles(spent, n=100)
    print(f"{label:<44} p50 {cuts[49] / 1000:8.1f} us   p99 {cuts[98] / 1000:8.1f} us")


async def load(
    label: str, connector: Connector, tool: str, arguments: dict[str, Any], calls: int, concurrency: int
) -> None:
    result = await connector_load(connector, tool, arguments, calls=calls, concurrency=concurrency)
    print(result.line(label))


async def connectors(calls: int, concurrency: int) -> None:
    async with AsyncExitStack() as stack:
        sap_url = await stack.enter_async_context(serve_app(sap_app()))
        tmp = stack.enter_context(tempfile.TemporaryDirectory())
        ords_url = await stack.enter_async_context(serve_app(ords_app(Path(tmp) / "hr.db")))
        mainframe = await stack.enter_async_context(serve_mainframe())

        def sap() -> ConnectorSettings:
            return ConnectorSettings(
                "sap",
                "sap",
                10.0,
                {"url": sap_url + SERVICE_PATH, "auth": {"kind": "basic", "username": "demo", "password": "demo"}},
            )

        def oracle() -> ConnectorSettings:
            return ConnectorSettings(
                "oracle",
                "oracle",
                10.0,
                {
                    "url": ords_url + "/ords/hr",
                    "auth": {"kind": "oauth_client_credentials", "client_id": "gateway", "client_secret": "demo"},
                },
            )

        def host() -> ConnectorSettings:
            return ConnectorSettings(
                "mainframe",
                "mainframe",
                10.0,
                {
                    "host": "127.0.0.1",
                    "port": mainframe.port,
                    "auth": {"kind": "basic", "username": "GATEWAY", "password": "demo"},
                },
            )

        cases: list[Case] = [
            ("sap.get_purchase_order", SapConnector, sap, "get_purchase_order", {"purchase_order_id": "4500000001"}),
            ("oracle.get_employee", OracleConnector, oracle, "get_employee", {"employee_id": 103}),
            ("mainframe.account_inquiry", MainframeConnector, host, "account_inquiry", {"account_number": 1000000002}),
        ]
        for label, kind, settings, tool, arguments in cases:
            for wrapped in (False, True):
                inner = kind(settings())
                connector: Connector = resilient(inner, settings()) if wrapped else inner
                await connector.start()
                try:
                    suffix = " (resilient)" if wrapped else " (bare)"
                    await load(label + suffix, connector, tool, arguments, calls, concurrency)
                finally:
                    await connector.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    options = parser.parse_args()

    layout = load_layouts()["funds_transfer"]
    values = {
        "XF-FROM-ACCOUNT": 1000000001,
        "XF-TO-ACCOUNT": 1000000002,
        "XF-AMOUNT": Decimal("-1234.56"),
        "XF-REFERENCE": "Rent",
        "XF-FROM-BALANCE": Decimal("-99.99"),
    }
    record = encode(layout, values)
    micro(f"copybook encode ({layout.length}-byte COMMAREA)", lambda: encode(layout, values))
    micro(f"copybook decode ({layout.length}-byte COMMAREA)", lambda: decode(layout, record))
    sql = (
        "SELECT e.last_name, d.department_name FROM employees e JOIN departments d "
        "ON e.department_id = d.department_id WHERE e.salary > :floor ORDER BY e.salary DESC"
    )
    micro("SQL guard (one 140-char SELECT)", lambda: check_query(sql, {"floor": 5000}))
    fields = ("Supplier", "ReleaseStatus", "NetAmount", "Description")
    text = "Supplier eq '0000100001' and ReleaseStatus eq 'RELEASED' and NetAmount ge 1000M"
    micro("OData $filter parse (3 clauses)", lambda: parse_filter(text, fields))
    asyncio.run(connectors(options.calls, options.concurrency))


if __name__ == "__main__":
    main()
