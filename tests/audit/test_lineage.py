"""Lineage: one agent action followed from the agent's traceparent, through the audit
log, to the request the SAP backend received."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from connectors.sap import stub as sap_stub
from gateway.serving import running
from tests.support.audit import cli

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
async def sap_backend() -> AsyncIterator[Starlette]:
    app = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(app) as url:
        app.state.url = url + SERVICE
        yield app


async def test_the_agents_trace_id_links_the_audit_log_to_the_backend(sap_backend, start_gateway, tmp_path) -> None:
    stanza = {
        "kind": "sap",
        "url": sap_backend.state.url,
        "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"},
    }
    async with start_gateway({"sap": stanza}) as gw:
        headers = {
            "Authorization": f"Bearer {gw.token('buyer-bot', roles=('procurement-agent',))}",
            "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01",
        }
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(gw.mcp_url, http_client=http), cache=None) as client,
        ):
            result = await client.call_tool(
                "sap.create_purchase_order",
                {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"},
            )
        assert not result.is_error, result.content[0].text

    (write,) = [r for r in sap_backend.state.requests if r.method == "POST"]
    # The CLI runs its own event loop: give it a thread.
    show = await asyncio.to_thread(cli, "show", TRACE_ID, "--db", tmp_path / "audit.db", "--json")
    assert show.exit_code == 0, show.output
    [story] = [json.loads(line) for line in show.output.splitlines()]
    assert story["agent"] == "buyer-bot" and story["status"] == "ok"
    kinds = [r["kind"] for r in story["records"]]
    assert kinds == ["call.received", "call.decided", "call.forwarded", "call.completed"]
    received = story["records"][0]["data"]
    # The backend got the traceparent the log recorded: same trace, the gateway's span as parent.
    assert write.headers["traceparent"] == received["traceparent"]
    assert received["traceparent"].startswith(f"00-{TRACE_ID}-")
    assert "00f067aa0ba902b7" not in received["traceparent"]
