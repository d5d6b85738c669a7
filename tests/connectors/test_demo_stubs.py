"""`serve_for(settings)`: each stub started where its stanza points, with the stanza's own
credentials, so `gateway demo` can bring up every backend from the config file alone."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from connectors.base import CallContext, create_connector
from gateway.config import ConnectorSettings
from gateway.models import Principal
from gateway.serving import free_port


def stanzas(port: int) -> list[tuple[ConnectorSettings, str, dict[str, Any]]]:
    local = f"http://127.0.0.1:{port}"
    return [
        (
            ConnectorSettings(
                "sap",
                "sap",
                5.0,
                {
                    "url": f"{local}/sap/opu/odata/sap/API_PURCHASEORDER_SRV",
                    "auth": {"kind": "basic", "username": "buyer", "password": "${env:DEMO_SAP_PASSWORD}"},
                },
            ),
            "search_vendors",
            {"country": "GB"},
        ),
        (
            ConnectorSettings(
                "hr",
                "oracle",
                5.0,
                {
                    "url": f"{local}/ords/hr",
                    "auth": {"kind": "oauth_client_credentials", "client_id": "gw", "client_secret": "c-secret"},
                },
            ),
            "get_order",
            {"order_id": 2354},
        ),
        (
            ConnectorSettings(
                "helpdesk",
                "openapi",
                5.0,
                {"spec": f"{local}/openapi.json", "auth": {"kind": "bearer", "token": "t0k"}},
            ),
            "getTicket",
            {"ticket_id": 1},
        ),
        (
            ConnectorSettings(
                "mainframe",
                "mainframe",
                5.0,
                {"host": "127.0.0.1", "port": port, "auth": {"kind": "basic", "username": "DEMO", "password": "pw1"}},
            ),
            "account_inquiry",
            {"account_number": 1000000001},
        ),
    ]


@pytest.mark.parametrize("index", range(4), ids=["sap", "oracle", "openapi", "mainframe"])
async def test_stub_starts_where_the_stanza_points(index: int, monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("DEMO_SAP_PASSWORD", "from-env")
    monkeypatch.chdir(tmp_path)  # the ORDS stub keeps its database in var/
    settings, tool, arguments = stanzas(free_port())[index]
    stub = importlib.import_module(f"connectors.{settings.kind}.stub")
    async with stub.serve_for(settings) as address:
        assert address is not None
        connector = create_connector(settings)
        await connector.start()
        try:
            result = await connector.call(tool, arguments, CallContext("c", Principal("demo"), "", 5.0))
            assert not result.is_error and result.structured
        finally:
            await connector.close()


async def test_remote_stanzas_start_nothing() -> None:
    sap = importlib.import_module("connectors.sap.stub")
    remote = ConnectorSettings(
        "sap",
        "sap",
        5.0,
        {"url": "https://sap.example.com/sap/opu", "auth": {"kind": "basic", "username": "u", "password": "p"}},
    )
    async with sap.serve_for(remote) as address:
        assert address is None
