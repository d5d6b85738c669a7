"""The SAP connector behind the gateway: allowed calls reach the OData stub, held and
denied ones never do."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from starlette.applications import Starlette

from connectors.sap import stub as sap_stub
from gateway.audit import read_records
from gateway.mcp.client import connect
from gateway.serving import running
from tests.support.gateway import RunningGateway

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"


@pytest.fixture
async def sap_backend() -> AsyncIterator[tuple[str, Starlette]]:
    app = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(app) as url:
        yield url + SERVICE, app


@pytest.fixture
async def sap_gateway(sap_backend, start_gateway) -> AsyncIterator[RunningGateway]:
    url, _ = sap_backend
    stanza = {
        "kind": "sap",
        "url": url,
        "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"},
        "timeout_seconds": 5,
    }
    # Held calls answer "pending" quickly instead of waiting for people.
    async with start_gateway({"sap": stanza}, approvals={"max_hold_seconds": 0.2}) as gw:
        yield gw


def _writes(app: Starlette) -> list:
    return [r for r in app.state.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


async def test_small_order_is_created_at_the_backend(sap_gateway: RunningGateway, sap_backend) -> None:
    _, app = sap_backend
    token = sap_gateway.token("buyer-bot", roles=("procurement-agent",))
    async with connect(sap_gateway.mcp_url, token) as client:
        result = await client.call_tool(
            "sap.create_purchase_order",
            {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"},
        )
    assert not result.is_error, result.content[0].text
    assert result.structured_content["purchase_order"]["NetAmount"] == "950.00"
    (write,) = _writes(app)
    assert write.json()["NetAmount"] == "950"
    # The backend sees the gateway's trace context, never the agent's token.
    assert write.headers["traceparent"].startswith("00-")
    assert "bearer" not in write.headers.get("authorization", "").lower()
    # The audit record names the identity SAP saw: the technical user.
    (completed,) = [r.data for r in read_records(sap_gateway.config.audit.database) if r.kind == "call.completed"]
    assert completed["backend_identity"] == {"kind": "basic", "user": "gateway"}


async def test_order_needing_approval_does_not_reach_the_backend(sap_gateway: RunningGateway, sap_backend) -> None:
    _, app = sap_backend
    token = sap_gateway.token("buyer-bot", roles=("procurement-agent",))
    async with connect(sap_gateway.mcp_url, token) as client:
        result = await client.call_tool(
            "sap.create_purchase_order",
            {"vendor_id": "0000100001", "amount": 25000, "currency": "EUR", "description": "Forklift"},
        )
    assert result.is_error
    assert "needs 1 approval by finance-approver (policy.csv:" in result.content[0].text
    assert _writes(app) == []


async def test_reader_cannot_create_orders(sap_gateway: RunningGateway, sap_backend) -> None:
    _, app = sap_backend
    token = sap_gateway.token("reader-bot", roles=("agent-readonly",))
    async with connect(sap_gateway.mcp_url, token) as client:
        listed = {t.name for t in (await client.list_tools()).tools}
        found = await client.call_tool("sap.search_vendors", {"country": "DE"})
        refused = await client.call_tool(
            "sap.create_purchase_order",
            {"vendor_id": "0000100001", "amount": 5, "currency": "EUR", "description": "Pens"},
        )
    assert "sap.search_vendors" in listed and "sap.create_purchase_order" not in listed
    assert not found.is_error and "Nordic Office GmbH" in found.content[0].text
    assert refused.is_error and "denied by default" in refused.content[0].text
    assert _writes(app) == []
