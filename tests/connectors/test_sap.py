from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import jsonschema
import pytest
from starlette.applications import Starlette

from connectors.base import BackendError, CallContext, Connector, create_connector
from connectors.sap.odata import ODataError, literal, parse_filter
from connectors.sap.stub import SERVICE_PATH, create_app
from connectors.stubkit import serve_app
from gateway.config import ConfigError, ConnectorSettings
from gateway.models import Principal

PASSWORD = "s3cret-pw"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def context(timeout: float = 5.0) -> CallContext:
    return CallContext(
        call_id="call-1", principal=Principal("alice", ("buyer",)), traceparent=TRACEPARENT, timeout=timeout
    )


def settings(url: str, **options: Any) -> ConnectorSettings:
    return ConnectorSettings(
        name="sap",
        kind="sap",
        timeout_seconds=5.0,
        options={
            "url": url,
            "auth": {"kind": "basic", "username": "demo", "password": "${env:SAP_TEST_PASSWORD}"},
            "on_behalf_of_header": "x-on-behalf-of",
            **options,
        },
    )


@dataclass
class Sap:
    app: Starlette
    url: str
    connector: Connector

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.connector.call(tool, arguments, context())
        assert not result.is_error
        assert result.structured is not None
        return dict(result.structured)


@pytest.fixture
async def sap(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Sap]:
    monkeypatch.setenv("SAP_TEST_PASSWORD", PASSWORD)
    app = create_app(username="demo", password=PASSWORD)
    async with serve_app(app) as base_url:
        connector = create_connector(settings(base_url + SERVICE_PATH))
        await connector.start()
        try:
            yield Sap(app, base_url + SERVICE_PATH, connector)
        finally:
            await connector.close()


async def test_tools_have_valid_schemas_and_read_only_flags(sap: Sap) -> None:
    specs = {spec.name: spec for spec in await sap.connector.tools()}
    assert set(specs) == {
        "search_purchase_orders",
        "get_purchase_order",
        "search_vendors",
        "create_purchase_order",
        "release_purchase_order",
        "cancel_purchase_order",
        "post_invoice",
    }
    assert {n for n, s in specs.items() if s.read_only} == {
        "search_purchase_orders",
        "get_purchase_order",
        "search_vendors",
    }
    for spec in specs.values():
        jsonschema.Draft202012Validator.check_schema(spec.input_schema)
    create = jsonschema.Draft202012Validator(specs["create_purchase_order"].input_schema)
    assert not list(
        create.iter_errors({"vendor_id": "0000100001", "amount": 10, "currency": "EUR", "description": "x"})
    )
    bad = {
        e.path[0] if e.path else e.validator
        for e in create.iter_errors(
            {"vendor_id": "1", "amount": -1, "currency": "euro", "description": "x", "extra": 1}
        )
    }
    assert bad == {"vendor_id", "amount", "currency", "additionalProperties"}


async def test_search_purchase_orders_filters_orders_and_pages(sap: Sap) -> None:
    found = await sap.call("search_purchase_orders", vendor_id="0000100001")
    assert [o["PurchaseOrder"] for o in found["purchase_orders"]] == ["4500000001", "4500000002"]
    assert found["total"] == 2

    found = await sap.call(
        "search_purchase_orders",
        status="RELEASED",
        min_amount=1000,
        max_amount=50000,
        order_by="NetAmount",
        descending=True,
    )
    assert [(o["PurchaseOrder"], o["NetAmount"]) for o in found["purchase_orders"]] == [
        ("4500000005", "4800.00"),
        ("4500000001", "1250.00"),
    ]

    page = await sap.call("search_purchase_orders", top=2, skip=2)
    assert [o["PurchaseOrder"] for o in page["purchase_orders"]] == ["4500000003", "4500000004"]
    assert page["total"] == 6
    request = sap.app.state.requests[-1]
    assert "%24top=2" in request.query and "%24skip=2" in request.query
    assert "__metadata" not in page["purchase_orders"][0]


async def test_get_purchase_order_with_items_and_invoices(sap: Sap) -> None:
    order = (await sap.call("get_purchase_order", purchase_order_id="4500000001"))["purchase_order"]
    assert order["Supplier"] == "0000100001"
    assert [i["PurchaseOrderItem"] for i in order["items"]] == ["00010", "00020"]
    assert [i["SupplierInvoice"] for i in order["invoices"]] == ["5105600001"]

    with pytest.raises(BackendError, match=r"Resource not found .*'4599999999'.*HTTP 404"):
        await sap.connector.call("get_purchase_order", {"purchase_order_id": "4599999999"}, context())


async def test_text_arguments_cannot_change_the_filter(sap: Sap) -> None:
    found = await sap.call("search_vendors", name_contains="O'Brien")
    assert [v["SupplierName"] for v in found["vendors"]] == ["O'Brien & Sons"]
    injected = await sap.call("search_vendors", name_contains="x', SupplierName) or substringof('a")
    assert injected["vendors"] == []
    assert injected["total"] == 0


async def test_create_purchase_order_does_the_csrf_handshake(sap: Sap) -> None:
    created = await sap.call(
        "create_purchase_order", vendor_id="0000100002", amount=1999.5, currency="EUR", description="Ergonomic chairs"
    )
    order = created["purchase_order"]
    assert (order["PurchaseOrder"], order["NetAmount"], order["ReleaseStatus"], order["CreatedByUser"]) == (
        "4500000007",
        "1999.50",
        "NOT_RELEASED",
        "DEMO",
    )
    fetch, post = sap.app.state.requests
    assert fetch.method == "GET" and fetch.headers["x-csrf-token"] == "Fetch"
    assert post.method == "POST" and post.path.endswith("/A_PurchaseOrder")
    assert post.headers["x-csrf-token"] == sap.app.state.sap.csrf_tokens[next(iter(sap.app.state.sap.csrf_tokens))]
    assert "SAP_SESSIONID_DEM_100=" in post.headers["cookie"]
    assert post.headers["authorization"].startswith("Basic ")
    assert post.headers["traceparent"] == TRACEPARENT
    assert post.headers["x-on-behalf-of"] == "alice"
    assert post.json() == {
        "Supplier": "0000100002",
        "NetAmount": "1999.5",
        "DocumentCurrency": "EUR",
        "Description": "Ergonomic chairs",
    }

    # The token is reused; when SAP forgets it, the connector fetches a new one once.
    await sap.call("release_purchase_order", purchase_order_id="4500000007")
    assert [r.method for r in sap.app.state.requests] == ["GET", "POST", "POST"]
    sap.app.state.sap.csrf_tokens.clear()
    await sap.call("post_invoice", purchase_order_id="4500000007", amount=1000, currency="EUR")
    assert [(r.method, r.headers.get("x-csrf-token", "")[:5]) for r in sap.app.state.requests[3:]] == [
        ("POST", post.headers["x-csrf-token"][:5]),
        ("GET", "Fetch"),
        ("POST", sap.app.state.requests[-1].headers["x-csrf-token"][:5]),
    ]


async def test_release_and_invoice_business_rules(sap: Sap) -> None:
    released = await sap.call("release_purchase_order", purchase_order_id="4500000003")
    assert released["purchase_order"]["ReleaseStatus"] == "RELEASED"
    with pytest.raises(BackendError, match="Purchase order 4500000003 is already released"):
        await sap.connector.call("release_purchase_order", {"purchase_order_id": "4500000003"}, context())

    invoice = await sap.call("post_invoice", purchase_order_id="4500000003", amount=300, currency="EUR")
    assert invoice["invoice"]["InvoiceAmount"] == "300.00"
    assert invoice["invoice"]["PurchaseOrder"] == "4500000003"
    with pytest.raises(BackendError, match=r"exceeds the open amount 10\.50 EUR"):
        await sap.connector.call(
            "post_invoice", {"purchase_order_id": "4500000003", "amount": 11, "currency": "EUR"}, context()
        )
    with pytest.raises(BackendError, match="differs from purchase order currency EUR"):
        await sap.connector.call(
            "post_invoice", {"purchase_order_id": "4500000003", "amount": 1, "currency": "USD"}, context()
        )
    with pytest.raises(BackendError, match="4500000002 is not released"):
        await sap.connector.call(
            "post_invoice", {"purchase_order_id": "4500000002", "amount": 1, "currency": "EUR"}, context()
        )
    with pytest.raises(BackendError, match="Supplier 0000100005 is blocked"):
        await sap.connector.call(
            "create_purchase_order",
            {"vendor_id": "0000100005", "amount": 1, "currency": "EUR", "description": "x"},
            context(),
        )
    with pytest.raises(BackendError, match="at most 2 decimals"):
        await sap.connector.call(
            "create_purchase_order",
            {"vendor_id": "0000100001", "amount": 1.234, "currency": "EUR", "description": "x"},
            context(),
        )


async def test_wrong_password_is_reported_without_detail(sap: Sap, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SAP_TEST_PASSWORD", "wrong")
    connector = create_connector(settings(sap.url))
    await connector.start()
    try:
        with pytest.raises(BackendError, match=r"^backend rejected the credential the gateway presented \(HTTP 401\)$"):
            await connector.call("search_vendors", {}, context())
    finally:
        await connector.close()


async def test_stub_speaks_sap_protocol(sap: Sap) -> None:
    async with httpx.AsyncClient(auth=("demo", PASSWORD)) as client:
        response = await client.post(sap.url + "/A_PurchaseOrder", json={})
        assert response.status_code == 403
        assert response.headers["x-csrf-token"] == "Required"
        assert response.json()["error"]["message"] == {"lang": "en", "value": "CSRF token validation failed"}

        response = await client.get(sap.url + "/A_Supplier", params={"$filter": "Country eq 'DE' and"})
        assert response.status_code == 400
        assert "unexpected end of expression" in response.json()["error"]["message"]["value"]

        response = await client.get(sap.url + "/A_Supplier", params={"$select": "Supplier,Country", "$top": "1"})
        assert response.json()["d"]["results"][0].keys() == {"__metadata", "Supplier", "Country"}

    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(sap.url + "/A_Supplier")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic ")


def test_filter_grammar() -> None:
    rows = [{"A": "x", "N": 5}, {"A": "y", "N": 7}, {"A": "it's", "N": 9}]
    fields = ("A", "N")

    def match(text: str) -> list[str]:
        return [r["A"] for r in rows if parse_filter(text, fields)(r)]

    assert match("A eq 'x' or (N gt 6 and not A eq 'y')") == ["x", "it's"]
    assert match(f"A eq {literal(chr(105) + chr(116) + chr(39) + 's')}") == ["it's"]
    assert match("substringof('T', A) and N le 9") == ["it's"]
    for bad, message in [
        ("B eq 1", "property 'B' does not exist"),
        ("A like 'x'", "unknown operator 'like'"),
        ("A eq 'x' )", "unexpected ')'"),
        ("A eq 'x", "unexpected character"),
    ]:
        with pytest.raises(ODataError, match=re.escape(message)):
            parse_filter(bad, fields)


def test_config_errors_name_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SAP_TEST_PASSWORD", raising=False)
    with pytest.raises(ConfigError, match=r"^connectors\.sap\.auth\.password: environment variable SAP_TEST_PASSWORD"):
        create_connector(settings("http://127.0.0.1:1/x"))
    with pytest.raises(ConfigError, match=r"^connectors\.sap\.url: required"):
        create_connector(
            ConnectorSettings("sap", "sap", 5.0, {"auth": {"kind": "basic", "username": "u", "password": "p"}})
        )
    with pytest.raises(ConfigError, match=r"^connectors\.sap\.retries: invalid value -1"):
        create_connector(
            settings("http://127.0.0.1:1/x", auth={"kind": "basic", "username": "u", "password": "p"}, retries=-1)
        )
    with pytest.raises(
        ConfigError, match=r"^connectors\.sap\.username: moved to connectors\.sap\.auth \(kind: basic\)$"
    ):
        create_connector(ConnectorSettings("sap", "sap", 5.0, {"url": "http://x", "username": "u", "password": "p"}))
