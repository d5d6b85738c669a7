"""`gateway audit show ID` on a real gateway's log: ID may be the call id an agent quotes,
the trace id or the approval id, and the answer is the whole story of the call: request,
decision, votes and execution (#18)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.mcp.client import connect
from tests.support.cli import config_file, run_cli
from tests.support.gateway import GatewayFactory, RunningGateway

ARGS = {"a": 1000, "b": 101}


@pytest.fixture
def approve_rule(policy_dir: Path) -> None:
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\np, tester, *, echo.add, approve, r.args.a > 100, 1 approver 1h\n")


async def _pending_id(gw: RunningGateway) -> str:
    headers = {"Authorization": f"Bearer {gw.token('alice', ('approver',))}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers) as http, asyncio.timeout(10):
        while not (items := (await http.get("/v1/approvals")).json()["approvals"]):
            await asyncio.sleep(0.02)
    return str(items[0]["approval_id"])


async def _approve(gw: RunningGateway, approval_id: str) -> None:
    headers = {"Authorization": f"Bearer {gw.token('alice', ('approver',))}"}
    async with httpx.AsyncClient(base_url=gw.url, headers=headers) as http:
        answered = await http.post(f"/v1/approvals/{approval_id}/approve", json={"comment": "budgeted"})
    assert answered.status_code == 200, answered.text


async def _show(gw: RunningGateway, ident: str) -> list[dict[str, Any]]:
    result = await run_cli("audit", "show", ident, "--json", env={"GATEWAY_CONFIG": str(config_file(gw))})
    return [json.loads(line) for line in result.output.splitlines()]


def _kinds(calls: list[dict[str, Any]]) -> list[str]:
    return [r["kind"] for call in calls for r in call["records"]]


@pytest.mark.usefixtures("approve_rule")
async def test_show_by_call_trace_or_approval_id_tells_the_held_call_story(
    echo_upstream, start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
    async with start_gateway(connectors) as gw, connect(gw.mcp_url, gw.token()) as client:
        call = asyncio.create_task(client.call_tool("echo.add", ARGS))
        approval_id = await _pending_id(gw)
        await _approve(gw, approval_id)
        assert not (await asyncio.wait_for(call, 10)).is_error
        by_approval = await _show(gw, approval_id)
        (held,) = by_approval
        assert await _show(gw, held["call_id"]) == by_approval
        assert await _show(gw, held["trace_id"]) == by_approval
        line = (await run_cli("audit", "show", approval_id, env={"GATEWAY_CONFIG": str(config_file(gw))})).output
    assert held["approval_id"] == approval_id and held["approvers"] == ["alice"]
    assert _kinds(by_approval) == [
        "call.received",
        "call.decided",
        "approval.requested",
        "approval.voted",
        "approval.decided",
        "call.forwarded",
        "call.completed",
    ]
    assert "approved-by=alice" in line and f"approval={approval_id}" in line and '"comment": "budgeted"' in line


@pytest.mark.usefixtures("approve_rule")
async def test_show_by_approval_id_includes_the_retry_that_executed(
    echo_upstream, start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
    async with start_gateway(connectors, approvals={"max_hold_seconds": 0.2}) as gw:
        async with connect(gw.mcp_url, gw.token()) as client:
            pending = await client.call_tool("echo.add", ARGS)
            assert pending.is_error  # held: the agent is told to retry
            approval_id = await _pending_id(gw)
            await _approve(gw, approval_id)
            executed = await client.call_tool("echo.add", ARGS)
        assert not executed.is_error, executed.content[0].text
        story = await _show(gw, approval_id)
    if len(story) == 1:
        pytest.xfail("the executing call's records do not carry approval_id yet (#11 deliver 5, another branch)")
    request, execution = story
    assert execution["approval_id"] == approval_id
    assert "approval.voted" in _kinds([request]) and "call.completed" in _kinds([execution])
