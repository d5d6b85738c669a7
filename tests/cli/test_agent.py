"""`gateway tools` and `gateway call` against a real gateway in front of the SAP stub:
base or /mcp URL, JSON output with schemas and the may-need-approval mark, waiting for
a held call with progress, and exit codes that tell a pending call from a refusal (#18)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from connectors.sap import stub as sap_stub
from gateway.approvals.mcp_agent import MAY_NEED_APPROVAL_META
from gateway.cli.agent import EXIT_PENDING
from gateway.mcp.client import connect
from gateway.serving import running
from tests.support.cli import run_cli
from tests.support.gateway import GatewayFactory, RunningGateway

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
SMALL = {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"}
LARGE = {**SMALL, "amount": 25000, "description": "Forklift"}


@pytest.fixture
async def sap_gateway(start_gateway: GatewayFactory) -> AsyncIterator[RunningGateway]:
    app: Starlette = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(app) as url:
        stanza = {
            "kind": "sap",
            "url": url + SERVICE,
            "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"},
        }
        roles = ["approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor"]
        approvals = {"approver_roles": roles, "max_hold_seconds": 30}
        async with start_gateway({"sap": stanza}, approvals=approvals) as gw:
            yield gw


def _agent(gw: RunningGateway, url: str | None = None) -> dict[str, str]:
    return {"GATEWAY_URL": url or gw.url, "GATEWAY_TOKEN": gw.token("buyer-bot", roles=("procurement-agent",))}


@pytest.mark.parametrize("suffix", ["", "/", "/mcp"], ids=["base", "base-slash", "mcp"])
async def test_tools_takes_the_base_or_the_mcp_url(sap_gateway: RunningGateway, suffix: str) -> None:
    result = await run_cli("tools", env=_agent(sap_gateway, sap_gateway.url + suffix))
    header, *rows = result.output.splitlines()
    assert header.split() == ["TOOL", "MAY", "HOLD", "DESCRIPTION"]
    marks = {row.split()[0]: row.split()[1] for row in rows}
    assert marks["sap.create_purchase_order"] == "approval"
    assert marks["sap.search_vendors"] == "-"


async def test_tools_json_has_schemas_and_the_approval_mark(sap_gateway: RunningGateway) -> None:
    result = await run_cli("tools", "-o", "json", env=_agent(sap_gateway))
    tools = {t["name"]: t for t in json.loads(result.output)}
    create = tools["sap.create_purchase_order"]
    assert create["may_need_approval"] is True and create["read_only"] is False
    assert create["input_schema"]["properties"]["amount"]["multipleOf"] == 0.01
    assert tools["sap.search_vendors"]["may_need_approval"] is False
    assert tools["gateway.approval_status"]["may_need_approval"] is False


async def test_the_mark_is_in_tools_list_meta_and_the_rest_list(sap_gateway: RunningGateway) -> None:
    token = _agent(sap_gateway)["GATEWAY_TOKEN"]
    async with connect(sap_gateway.url, token) as client:
        listed = {t.name: t for t in (await client.list_tools()).tools}
    assert listed["sap.create_purchase_order"].meta == {MAY_NEED_APPROVAL_META: True}
    assert listed["sap.get_purchase_order"].meta == {MAY_NEED_APPROVAL_META: False}
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}) as http:
        rest = (await http.get(f"{sap_gateway.url}/v1/tools")).json()["tools"]
    assert {t["name"]: t["may_need_approval"] for t in rest}["sap.create_purchase_order"] is True


async def test_a_held_call_without_waiting_exits_3_with_its_approval_id(sap_gateway: RunningGateway) -> None:
    result = await run_cli(
        "call", "sap.create_purchase_order", "--args", json.dumps(LARGE), "--no-wait", env=_agent(sap_gateway), ok=False
    )
    assert result.exit_code == EXIT_PENDING, result.output
    assert "needs 1 approval by finance-approver" in result.stdout
    assert result.stderr.splitlines()[-1].startswith("pending: approval apr_")


async def _approve_when_held(gw: RunningGateway) -> str:
    headers = {"Authorization": f"Bearer {gw.token('alice', ('finance-approver',))}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers) as http, asyncio.timeout(10):
        while not (items := (await http.get("/v1/approvals")).json()["approvals"]):
            await asyncio.sleep(0.05)
        approval_id: str = items[0]["approval_id"]
        answered = await http.post(f"/v1/approvals/{approval_id}/approve", json={"comment": "budgeted"})
        assert answered.status_code == 200, answered.text
    return approval_id


async def test_a_held_call_waits_with_progress_and_exits_0_once_approved(sap_gateway: RunningGateway) -> None:
    args = ("call", "sap.create_purchase_order", "--args", json.dumps(LARGE), "--wait", "20")
    calling = asyncio.create_task(run_cli(*args, env=_agent(sap_gateway, f"{sap_gateway.url}/mcp")))
    approval_id = await _approve_when_held(sap_gateway)
    result = await asyncio.wait_for(calling, 30)
    assert f"... awaiting approval 0 of 1 (id {approval_id})" in result.stderr
    assert json.loads(result.stdout)["purchase_order"]["NetAmount"] == "25000.00"


@pytest.mark.parametrize(
    ("tenant", "args", "says"),
    [
        ("globex", {**SMALL, "amount": 200000}, "denied by policy.csv:13"),
        (None, {**SMALL, "currency": "EUR\n"}, "invalid argument currency"),
    ],
    ids=["denied", "invalid"],
)
async def test_refusals_exit_1(
    sap_gateway: RunningGateway, tenant: str | None, args: dict[str, Any], says: str
) -> None:
    env = {
        "GATEWAY_URL": sap_gateway.url,
        "GATEWAY_TOKEN": sap_gateway.token("b", ("procurement-agent",), tenant=tenant),
    }
    result = await run_cli("call", "sap.create_purchase_order", "--args", json.dumps(args), env=env, ok=False)
    assert result.exit_code == 1, result.output
    assert says in result.stdout


async def test_wait_and_no_wait_exclude_each_other(sap_gateway: RunningGateway) -> None:
    result = await run_cli("call", "sap.search_vendors", "--wait", "3", "--no-wait", env=_agent(sap_gateway), ok=False)
    assert result.exit_code == 2 and "--wait and --no-wait exclude each other" in result.output


async def test_tools_lists_every_page(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, _ = echo_upstream
    connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
    async with start_gateway(connectors, frontdoors={"page_size": 1}) as gw:
        env = {"GATEWAY_URL": gw.url, "GATEWAY_TOKEN": gw.token()}
        listed = json.loads((await run_cli("tools", "-o", "json", env=env)).output)
    assert {t["name"] for t in listed} == {"echo.echo", "echo.add", "echo.sleep", "gateway.approval_status"}
