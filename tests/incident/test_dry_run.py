"""Dry run end to end: the report over MCP `_meta` and the REST header, the SAP stub's test
run and the mainframe's validate-only transaction, and nothing held or stored."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import httpx
from mcp import types

from gateway.approvals import ApprovalFilter
from gateway.dry_run import DRY_RUN_HEADER, DRY_RUN_META
from gateway.mcp.client import connect
from tests.support.incident import ORDER, incident_backends, records

DRY = {DRY_RUN_META: True}


async def _call_dry(client, tool: str, arguments: dict, meta: dict | None = None) -> types.CallToolResult:
    return await client.session.call_tool(tool, arguments, meta=meta or DRY)


async def test_an_allowed_sap_write_is_a_backend_test_run_and_stores_nothing(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        before = len(b.orders())
        async with connect(b.gw.mcp_url, b.gw.token("buyer-bot", ("procurement-agent",))) as client:
            result = await _call_dry(client, "sap.create_purchase_order", ORDER)
            blocked = await _call_dry(client, "sap.create_purchase_order", {**ORDER, "vendor_id": "0000100005"})
        log = await records(b.gw)
    assert not result.is_error, result.content[0].text
    report = result.structured_content
    assert report["dry_run"] and report["would"] == "allow" and report["rule"] == "policy.csv:2"
    assert report["backend"]["simulated"] and report["backend"]["accepted"]
    assert report["backend"]["structured_content"]["purchase_order"]["NetAmount"] == "950.00"
    assert len(b.orders()) == before
    assert all(w.headers["x-sap-testrun"] == "X" for w in b.sap_writes())
    # The backend's own verdict on a blocked supplier comes back as the report.
    assert blocked.structured_content["backend"]["accepted"] is False
    assert "blocked for purchasing" in blocked.structured_content["backend"]["error"]
    previewed = [r for r in log if r.kind == "call.previewed"]
    assert [r.data["backend_accepted"] for r in previewed] == [True, False]
    received = [r for r in log if r.kind == "call.received"]
    assert all(r.data["dry_run"] for r in received)


async def test_approval_and_deny_are_reported_without_holding_or_forwarding(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        async with connect(b.gw.mcp_url, b.gw.token("buyer-bot", ("procurement-agent",))) as client:
            big = await _call_dry(client, "sap.create_purchase_order", {**ORDER, "amount": 25000})
            invoice = await _call_dry(
                client, "sap.post_invoice", {"purchase_order_id": "4500000001", "amount": 10, "currency": "EUR"}
            )
        pending = await b.gw.gateway.approvals.list(ApprovalFilter())
    report = big.structured_content
    assert report["would"] == "approve" and report["approvals_required"] == 1
    assert report["approver_role"] == "finance-approver"
    assert report["backend"]["simulated"] is True  # a test run changes nothing, so it may ask
    assert pending == []
    denied = invoice.structured_content
    assert denied["would"] == "deny" and denied["rule"] == "policy.csv:6"
    assert denied["backend"] == {"simulated": False, "why": "the policy denies the call"}
    # One test run of the order; the denied invoice never reached the backend.
    (write,) = b.sap_writes()
    assert write.path.endswith("/A_PurchaseOrder") and write.headers["x-sap-testrun"] == "X"


async def test_mainframe_transfer_is_validated_only(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        balance = b.mainframe.accounts[1000000001]["balance"]
        transfer = {"from_account": 1000000001, "to_account": 1000000002, "amount": 100, "reference": "dry"}
        async with connect(b.gw.mcp_url, b.gw.token("treasury", ("treasury-agent",))) as client:
            ok = await _call_dry(client, "mainframe.funds_transfer", transfer)
            frozen = await _call_dry(client, "mainframe.funds_transfer", {**transfer, "to_account": 1000000003})
    assert ok.structured_content["backend"]["accepted"], ok.content[0].text
    assert ok.structured_content["backend"]["structured_content"]["message"] == "TRANSFER VALID, NOT POSTED"
    assert "ACCOUNT IS FROZEN" in frozen.structured_content["backend"]["error"]
    assert b.mainframe.accounts[1000000001]["balance"] == balance == Decimal("15230.75")
    assert [r.tran_id for r in b.mainframe.requests] == ["XFEV", "XFEV"]
    assert b.mainframe.transfers == {}


async def test_rest_header_and_bad_values(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        headers = {"Authorization": f"Bearer {b.gw.token('buyer-bot', ('procurement-agent',))}"}
        async with httpx.AsyncClient(base_url=b.gw.url, headers=headers) as http:
            dry = await http.post(
                "/v1/tools/sap.create_purchase_order:call",
                json=ORDER,
                headers={DRY_RUN_HEADER: "true", "Idempotency-Key": "k-1"},
            )
            bad = await http.post(
                "/v1/tools/sap.create_purchase_order:call", json=ORDER, headers={DRY_RUN_HEADER: "maybe"}
            )
            # The same idempotency key on the real call is not answered with the dry run's report.
            real = await http.post(
                "/v1/tools/sap.create_purchase_order:call", json=ORDER, headers={"Idempotency-Key": "k-1"}
            )
        async with connect(b.gw.mcp_url, b.gw.token("buyer-bot", ("procurement-agent",))) as client:
            try:
                await _call_dry(client, "sap.create_purchase_order", ORDER, {DRY_RUN_META: "yes"})
                raised = None
            except Exception as exc:  # the SDK raises the JSON-RPC error
                raised = str(exc)
    assert dry.status_code == 200 and dry.json()["structured_content"]["would"] == "allow"
    assert bad.status_code == 400 and "must be true or false" in bad.json()["detail"]
    assert real.status_code == 200 and "dry_run" not in json.dumps(real.json()["structured_content"])
    assert len([o for o in b.orders().values() if o["Description"] == "Pallets"]) >= 1
    assert raised is not None and "must be true or false" in raised


async def test_a_tool_without_a_test_run_is_not_forwarded(echo_gateway, echo_upstream) -> None:
    _, upstream_app = echo_upstream
    async with connect(echo_gateway.mcp_url, echo_gateway.token("agent-1")) as client:
        result = await _call_dry(client, "echo.echo", {"text": "would you?"})
    assert result.structured_content["would"] == "allow"
    assert result.structured_content["backend"] == {"simulated": False, "why": "the backend has no test run"}
    assert upstream_app.state.calls == []


async def test_a_service_that_ignores_the_test_run_is_caught(tmp_path: Path) -> None:
    """A service that does not know the test-run header stores the change: the connector
    notices the missing confirmation and reports it instead of a clean verdict."""
    async with incident_backends(tmp_path) as b:
        honest = b.sap.middleware_stack or b.sap.build_middleware_stack()

        async def forgetful(scope, receive, send):  # strips the header, as an older service ignores it
            if scope["type"] == "http":
                scope = {**scope, "headers": [(k, v) for k, v in scope["headers"] if k != b"x-sap-testrun"]}
            await honest(scope, receive, send)

        b.sap.middleware_stack = forgetful
        async with connect(b.gw.mcp_url, b.gw.token("buyer-bot", ("procurement-agent",))) as client:
            result = await _call_dry(client, "sap.create_purchase_order", ORDER)
    backend = result.structured_content["backend"]
    assert backend["accepted"] is False
    assert "did not confirm the test run: check whether it stored the change" in backend["error"]
