"""Attack (#11 finding 7): `"EUR\\n"` and `"0000100001\\n"` passed `^...$` patterns (Python's
`$` matches before a trailing newline) and reached SAP; 9999.999 EUR passed schema and
policy. Patterns now follow ECMA-262 and amounts carry `multipleOf` (checked exactly,
so 19.99 passes 0.01 where binary floats refuse it) — in the stubs' schemas and
in what the OpenAPI import keeps."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from connectors.mainframe.transactions import COPYBOOKS, TRANSACTIONS, input_schema, load_layouts
from connectors.sap import stub as sap_stub
from gateway.mcp.client import connect
from gateway.serving import running
from tests.support.gateway import GatewayFactory, RunningGateway

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
ORDER = {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"}


@pytest.fixture
async def sap() -> AsyncIterator[tuple[str, Starlette]]:
    app = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(app) as url:
        yield url + SERVICE, app


@pytest.fixture
async def sap_gateway(sap: tuple[str, Starlette], start_gateway: GatewayFactory) -> AsyncIterator[RunningGateway]:
    stanza = {
        "kind": "sap",
        "url": sap[0],
        "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"},
        "timeout_seconds": 5,
    }
    async with start_gateway({"sap": stanza}, approvals={"max_hold_seconds": 0.2}) as gw:
        yield gw


def _writes(app: Starlette) -> list[Any]:
    return [r for r in app.state.requests if r.method in ("POST", "PATCH", "PUT", "DELETE")]


@pytest.mark.parametrize(
    ("field", "value", "why"),
    [
        ("currency", "EUR\n", "does not match '^[A-Z]{3}$'"),
        ("vendor_id", "0000100001\n", "does not match '^[0-9]{10}$'"),
        ("amount", 9999.999, "9999.999 is not a multiple of 0.01"),
    ],
    ids=["currency-newline", "vendor-newline", "amount-third-decimal"],
)
async def test_forged_order_is_refused_before_sap(
    sap_gateway: RunningGateway, sap: tuple[str, Starlette], field: str, value: Any, why: str
) -> None:
    token = sap_gateway.token("buyer-bot", roles=("procurement-agent",))
    async with connect(sap_gateway.mcp_url, token) as client:
        result = await client.call_tool("sap.create_purchase_order", {**ORDER, field: value})
    assert result.is_error
    assert f"invalid argument {field}: " in result.content[0].text and why in result.content[0].text
    assert _writes(sap[1]) == []


@pytest.mark.parametrize("amount", [9999.99, 19.99, 4.35, 0.07])
async def test_an_amount_with_cents_reaches_sap(
    sap_gateway: RunningGateway, sap: tuple[str, Starlette], amount: float
) -> None:
    # 19.99 / 0.01 is 1998.9999999999998 in binary floats: only an exact check passes it.
    token = sap_gateway.token("buyer-bot", roles=("procurement-agent",))
    async with connect(sap_gateway.mcp_url, token) as client:
        result = await client.call_tool("sap.create_purchase_order", {**ORDER, "amount": amount})
    assert not result.is_error, result.content[0].text
    (write,) = _writes(sap[1])
    assert write.json()["NetAmount"] == str(amount)


def _payments_api() -> Starlette:
    async def pay(request: Request) -> JSONResponse:
        return JSONResponse({"paid": (await request.json())["amount"]}, status_code=201)

    return Starlette(routes=[Route("/payments", pay, methods=["POST"])])


def _payments_spec(base_url: str) -> dict[str, Any]:
    amount = {"type": "number", "exclusiveMinimum": 0, "multipleOf": 0.01}
    body = {
        "type": "object",
        "properties": {"amount": amount, "iban": {"type": "string", "pattern": "^[A-Z]{2}[0-9]{2}[A-Z0-9]{1,30}$"}},
        "required": ["amount", "iban"],
    }
    operation = {
        "operationId": "pay",
        "requestBody": {"required": True, "content": {"application/json": {"schema": body}}},
        "responses": {"201": {"description": "paid"}},
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "payments", "version": "1"},
        "servers": [{"url": base_url}],
        "paths": {"/payments": {"post": operation}},
    }


async def test_openapi_import_keeps_multiple_of_and_ecma_patterns(
    tmp_path: Path, policy_dir: Path, start_gateway: GatewayFactory
) -> None:
    with (policy_dir / "policy.csv").open("a") as policy:
        policy.write("\np, tester, *, payments.*, allow, true, -\n")
    async with running(_payments_api()) as backend:
        spec = tmp_path / "payments.json"
        spec.write_text(json.dumps(_payments_spec(backend)))
        async with (
            start_gateway({"payments": {"kind": "openapi", "spec": str(spec)}}) as gw,
            connect(gw.mcp_url, gw.token()) as client,
        ):
            paid = await client.call_tool(
                "payments.pay", {"body": {"amount": 9999.99, "iban": "DE44500105175407324931"}}
            )
            third = await client.call_tool(
                "payments.pay", {"body": {"amount": 9999.999, "iban": "DE44500105175407324931"}}
            )
            newline = await client.call_tool(
                "payments.pay", {"body": {"amount": 1, "iban": "DE44500105175407324931\n"}}
            )
    assert not paid.is_error, paid.content[0].text
    assert "9999.999 is not a multiple of 0.01" in third.content[0].text
    assert newline.is_error and "does not match" in newline.content[0].text


def test_mainframe_decimal_fields_carry_their_scale_as_multiple_of() -> None:
    from gateway.schema import validator_for

    transfer = next(t for t in TRANSACTIONS if t.tool == "funds_transfer")
    amount = input_schema(transfer, load_layouts(COPYBOOKS)[transfer.tool])["properties"]["amount"]
    assert amount["multipleOf"] == 0.01
    validator = validator_for(amount)
    assert validator.is_valid(1234567.89) and not validator.is_valid(1234567.891)
