"""The stubs' normal results: every read tool of the SAP, Oracle, OpenAPI and mainframe stubs
called through its connector, as the clean half of the screening corpus and the ground for
measuring the detectors' false positives (tests and bench/bench_inspect.py)."""

from __future__ import annotations

import contextlib
import importlib
import os
from collections.abc import AsyncIterator
from typing import Any

from connectors.base import CallContext, create_connector
from gateway.config import ConnectorSettings
from gateway.models import Principal, ToolResult
from gateway.serving import free_port

CALLS: dict[str, list[tuple[str, dict[str, Any]]]] = {
    "sap": [
        ("search_purchase_orders", {}),
        ("get_purchase_order", {"purchase_order_id": "4500000001"}),
        ("get_purchase_order", {"purchase_order_id": "4500000004"}),
        ("search_vendors", {}),
    ],
    "oracle": [
        ("search_employees", {"limit": 100}),
        ("get_employee", {"employee_id": 100}),
        ("search_orders", {"limit": 100}),
        ("get_order", {"order_id": 2354}),
        ("query", {"sql": "select * from employees"}),
        ("query", {"sql": "select * from customers"}),
        ("query", {"sql": "select * from departments d join jobs j on 1 = 1"}),
    ],
    "openapi": [("listTickets", {}), ("getTicket", {"ticket_id": 1}), ("getTicket", {"ticket_id": 2})],
    "mainframe": [("account_inquiry", {"account_number": n}) for n in (1000000001, 1000000002, 1000000003)],
}


def _stanza(kind: str) -> ConnectorSettings:
    local = f"http://127.0.0.1:{free_port()}"
    options: dict[str, Any] = {
        "sap": {
            "url": f"{local}/sap/opu/odata/sap/API_PURCHASEORDER_SRV",
            "auth": {"kind": "basic", "username": "u", "password": "p"},
        },
        "oracle": {
            "url": f"{local}/ords/hr",
            "auth": {"kind": "oauth_client_credentials", "client_id": "gw", "client_secret": "c-secret"},
        },
        "openapi": {"spec": f"{local}/openapi.json", "auth": {"kind": "bearer", "token": "t0k"}},
        "mainframe": {
            "host": "127.0.0.1",
            "port": free_port(),
            "auth": {"kind": "basic", "username": "DEMO", "password": "pw1"},
        },
    }[kind]
    return ConnectorSettings(kind, kind, 5.0, options)


@contextlib.asynccontextmanager
async def _chdir(path: str) -> AsyncIterator[None]:
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


async def stub_results(workdir: str) -> list[tuple[str, ToolResult]]:
    """(connector.tool, result) for every call in CALLS; `workdir` holds the ORDS database."""
    found: list[tuple[str, ToolResult]] = []
    async with _chdir(workdir):
        for kind, calls in CALLS.items():
            settings = _stanza(kind)
            stub = importlib.import_module(f"connectors.{kind}.stub")
            async with stub.serve_for(settings):
                connector = create_connector(settings)
                await connector.start()
                try:
                    for tool, arguments in calls:
                        result = await connector.call(tool, arguments, CallContext("c", Principal("corpus"), "", 5.0))
                        assert not result.is_error, (tool, result.content)
                        found.append((f"{kind}.{tool}", result))
                finally:
                    await connector.close()
    return found
