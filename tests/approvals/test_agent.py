"""Held calls from the agent's side, end to end through real servers: not waiting
(MCP `_meta`, REST `Prefer`), the status tool and resource, retries after a decision,
exactly-once execution under concurrent retries, and expiry."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import mcp_types as types
import pytest
from mcp import Client, MCPError

from gateway.approvals.mcp_agent import STATUS_TOOL, WAIT_META
from gateway.audit import read_records
from gateway.mcp.client import connect
from tests.approvals.test_e2e import ARGS, connectors, vote
from tests.support.gateway import GatewayFactory, RunningGateway

NO_WAIT = {WAIT_META: False}


def rule(policy_dir: Path, approval: str) -> None:
    with (policy_dir / "policy.csv").open("a") as f:
        f.write(f"\np, tester, *, echo.add, approve, r.args.a > 100, {approval}\n")


@pytest.fixture
def two_approvers(policy_dir: Path) -> None:
    rule(policy_dir, "2 approver 1h")


async def status(client: Client, approval_id: str) -> dict[str, Any]:
    result = await client.call_tool(STATUS_TOOL, {"approval_id": approval_id})
    assert not result.is_error, result
    assert json.loads(result.content[0].text) == result.structured_content
    return result.structured_content or {}


def pending_id_of(result: types.CallToolResult) -> str:
    assert result.is_error
    assert result.structured_content is not None and result.structured_content["status"] == "pending"
    approval_id = result.structured_content["approval_id"]
    assert f"(id {approval_id})" in result.content[0].text
    return approval_id


@pytest.mark.usefixtures("two_approvers")
async def test_mcp_not_waiting_status_tool_and_exactly_once(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, upstream = echo_upstream
    # The configured hold time is long: only the agent's request makes the call return early.
    async with start_gateway(connectors(url)) as gw, connect(gw.mcp_url, gw.token()) as client:
        assert STATUS_TOOL in {t.name for t in (await client.list_tools()).tools}
        async with asyncio.timeout(10):
            first = await client.call_tool("echo.add", ARGS, meta=NO_WAIT)
            approval_id = pending_id_of(first)
            assert "awaiting approval 0 of 2" in first.content[0].text
            assert (await status(client, approval_id))["status"] == "pending"
            # Same tool, same arguments: the same approval, never a second one.
            assert pending_id_of(await client.call_tool("echo.add", ARGS, meta={WAIT_META: 0.1})) == approval_id

            await vote(gw, approval_id, "alice")
            assert (await status(client, approval_id))["message"] == "awaiting approval 1 of 2"
            await vote(gw, approval_id, "bob")
            approved = await status(client, approval_id)
            assert approved["status"] == "approved" and "result" not in approved
            assert upstream.state.calls == [], "approval alone executes nothing"

            retries = await asyncio.gather(*(client.call_tool("echo.add", ARGS, meta=NO_WAIT) for _ in range(6)))
            assert [r.content[0].text for r in retries] == ["1101"] * 6
            done = await status(client, approval_id)
    assert done["status"] == "completed"
    assert done["result"]["content"][0]["text"] == "1101" and done["result"]["is_error"] is False
    assert len(upstream.state.calls) == 1, "an approved call executes exactly once"


@pytest.mark.usefixtures("two_approvers")
async def test_mcp_status_of_a_denied_call_and_of_another_agents_call(
    echo_upstream, start_gateway: GatewayFactory
) -> None:
    url, upstream = echo_upstream
    async with start_gateway(connectors(url)) as gw, connect(gw.mcp_url, gw.token()) as client:
        approval_id = pending_id_of(await client.call_tool("echo.add", ARGS, meta=NO_WAIT))
        async with connect(gw.mcp_url, gw.token("agent-2")) as other:
            foreign = await other.call_tool(STATUS_TOOL, {"approval_id": approval_id})
            missing = await other.call_tool(STATUS_TOOL, {})
        await vote(gw, approval_id, "alice", "deny", "not within budget")
        denied = await status(client, approval_id)
        retried = await client.call_tool("echo.add", ARGS, meta=NO_WAIT)
        with pytest.raises(MCPError, match=WAIT_META):
            await client.call_tool("echo.add", ARGS, meta={WAIT_META: "soon"})
    assert foreign.is_error and foreign.content[0].text == f"no held call of yours has approval id {approval_id!r}"
    assert missing.is_error
    assert denied["status"] == "denied" and denied["message"] == "denied by alice: not within budget"
    assert retried.is_error and retried.content[0].text == "denied by alice: not within budget"
    assert upstream.state.calls == []


async def test_mcp_expiry_is_an_audited_error(echo_upstream, start_gateway: GatewayFactory, policy_dir: Path) -> None:
    rule(policy_dir, "1 approver 1s")
    url, upstream = echo_upstream
    async with start_gateway(connectors(url)) as gw, connect(gw.mcp_url, gw.token()) as client:
        async with asyncio.timeout(10):
            expired = await client.call_tool("echo.add", ARGS)  # waits: the hold time is far longer
            approval_id = expired.content[0].text.split()[1]
            seen = await status(client, approval_id)
            retried = await client.call_tool("echo.add", ARGS, meta=NO_WAIT)
    assert expired.is_error
    assert expired.content[0].text == f"approval {approval_id} expired without a decision"
    assert seen["status"] == "expired" and seen["message"] == expired.content[0].text
    assert retried.content[0].text == expired.content[0].text
    records = [r for r in read_records(gw.config.audit.database) if r.kind == "approval.expired"]
    assert [r.data["approval_id"] for r in records] == [approval_id]
    assert upstream.state.calls == []


def agent(gw: RunningGateway, subject: str = "agent-1") -> httpx.AsyncClient:
    token = gw.token(subject)
    return httpx.AsyncClient(base_url=gw.url, headers={"Authorization": f"Bearer {token}"}, timeout=10)


@pytest.mark.usefixtures("two_approvers")
async def test_rest_respond_async_location_and_status(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, upstream = echo_upstream
    async with start_gateway(connectors(url)) as gw, agent(gw) as http, agent(gw, "agent-2") as other:
        call = "/v1/tools/echo.add:call"
        accepted = await http.post(call, json=ARGS, headers={"Prefer": "respond-async"})
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        location = accepted.headers["location"]
        assert location == f"/v1/calls/{body['approval_id']}"
        assert body["type"] == "urn:agent-gateway:problem:approval_pending"

        pending = await http.get(location)
        assert pending.status_code == 200 and pending.json()["status"] == "pending"
        assert (await other.get(location)).status_code == 404, "only the requesting agent may read it"
        assert (await http.get("/v1/calls/apr_unknown")).status_code == 404

        # wait=N bounds the hold (the configured hold time is 300 s).
        async with asyncio.timeout(8):
            bounded = await http.post(call, json=ARGS, headers={"Prefer": "wait=1"})
        assert bounded.status_code == 202 and bounded.headers["location"] == location

        await vote(gw, body["approval_id"], "alice")
        await vote(gw, body["approval_id"], "bob")
        assert (await http.get(location)).json()["status"] == "approved"
        executed = await http.post(call, json=ARGS, headers={"Prefer": "respond-async"})
        completed = (await http.get(location)).json()
    assert executed.status_code == 200 and executed.json()["content"][0]["text"] == "1101"
    assert completed["status"] == "completed" and completed["result"]["content"][0]["text"] == "1101"
    assert len(upstream.state.calls) == 1


@pytest.mark.usefixtures("two_approvers")
async def test_rest_prefer_wait_returns_the_result_when_decided_in_time(
    echo_upstream, start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    async with start_gateway(connectors(url)) as gw, agent(gw) as http:
        call = asyncio.create_task(http.post("/v1/tools/echo.add:call", json=ARGS, headers={"Prefer": "wait=20"}))
        async with httpx.AsyncClient(
            base_url=gw.url, headers={"Authorization": f"Bearer {gw.token('alice', ('approver',))}"}
        ) as approvers:
            async with asyncio.timeout(10):
                while not (items := (await approvers.get("/v1/approvals")).json()["approvals"]):
                    await asyncio.sleep(0.02)
        await vote(gw, items[0]["approval_id"], "alice")
        await vote(gw, items[0]["approval_id"], "bob")
        answered = await asyncio.wait_for(call, 10)
    assert answered.status_code == 200 and answered.json()["content"][0]["text"] == "1101"


@pytest.mark.usefixtures("two_approvers")
async def test_rest_idempotency_key_does_not_freeze_a_pending_answer(
    echo_upstream, start_gateway: GatewayFactory
) -> None:
    url, upstream = echo_upstream
    headers = {"Prefer": "respond-async", "Idempotency-Key": "transfer-7"}
    async with start_gateway(connectors(url)) as gw, agent(gw) as http:
        accepted = await http.post("/v1/tools/echo.add:call", json=ARGS, headers=headers)
        assert accepted.status_code == 202
        await vote(gw, accepted.json()["approval_id"], "alice")
        await vote(gw, accepted.json()["approval_id"], "bob")
        executed = await http.post("/v1/tools/echo.add:call", json=ARGS, headers=headers)
        replayed = await http.post("/v1/tools/echo.add:call", json=ARGS, headers=headers)
    assert executed.status_code == 200 and executed.json()["content"][0]["text"] == "1101"
    assert replayed.headers["idempotent-replayed"] == "true" and replayed.json() == executed.json()
    assert len(upstream.state.calls) == 1
