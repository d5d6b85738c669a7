"""Finding 2: an approved call ran under the policy in force when it was first decided: a
deny rule reloaded while it waited, a rule tightened to two cfo, a 5 s rule TTL and the
18:00 office-hours edge all failed to stop it.

Now the current policy decides the call again just before it executes, with the
execution time in the context; it runs only if the rule still asks for approval and the
votes cast satisfy that rule. Otherwise the approval is superseded: the agent is refused
with the reason and the audit log says why. And an approved call runs only within its
execution window (never the 24 h outcome retention)."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from gateway.mcp.client import connect
from tests.support.attacks import (
    ORDER,
    Backends,
    api,
    approve,
    attack_gateway,
    bearer,
    call,
    edit_policy,
    held,
    of_call,
    records,
    reloaded,
    until_pending,
)
from tests.support.gateway import GatewayFactory, RunningGateway

TOOL = "sap.create_purchase_order"
ONE_FINANCE_APPROVER = "r.args.amount >= 10000 || r.args.currency != 'EUR', 1 finance-approver 4h"


def assert_superseded(response: httpx.Response, *because: str) -> str:
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["type"] == "urn:agent-gateway:problem:approval_superseded", body
    assert "was superseded at execution" in body["detail"] or "execution window" in body["detail"]
    for text in because:
        assert text in body["detail"], body["detail"]
    return str(body["detail"])


def superseded_records(gw: RunningGateway, approval_id: str) -> list[str]:
    return [
        r.data["reason"]
        for r in records(gw)
        if r.kind == "approval.superseded" and r.data["approval_id"] == approval_id
    ]


async def test_a_deny_rule_reloaded_while_the_call_waits_stops_it(
    start_gateway: GatewayFactory, backends: Backends, attack_policy: Path
) -> None:
    async with attack_gateway(start_gateway, backends, max_hold_seconds=20) as gw:
        buyer = bearer(gw, "buyer-bot", "procurement-agent")
        alice = bearer(gw, "alice", "finance-approver")
        waiting = asyncio.create_task(call(gw, TOOL, ORDER, buyer))
        approval_id = await until_pending(gw, alice)
        edit_policy(attack_policy, "", "# Forklifts are frozen.\np, *, *, sap.create_purchase_order, deny, true, -")
        await reloaded(gw)
        assert (await approve(gw, approval_id, alice)).status_code == 200
        response = await asyncio.wait_for(waiting, 10)
    detail = assert_superseded(response, "no longer asks for approval", "Forklifts are frozen.")
    assert backends.sap_writes() == []
    assert superseded_records(gw, approval_id) == [detail]
    execution = [r for r in of_call(gw, response.json()["call_id"]) if r.kind.startswith("call.")]
    assert [r.kind for r in execution] == ["call.received", "call.decided", "call.decided"], "never forwarded"
    assert execution[-1].data["stage"] == "execution" and execution[-1].data["effect"] == "deny"
    assert execution[-1].data["approval_id"] == approval_id


async def test_a_rule_tightened_to_two_cfo_is_not_satisfied_by_one_finance_approver(
    start_gateway: GatewayFactory, backends: Backends, attack_policy: Path
) -> None:
    async with attack_gateway(start_gateway, backends, max_hold_seconds=20) as gw:
        buyer = bearer(gw, "buyer-bot", "procurement-agent")
        alice = bearer(gw, "alice", "finance-approver")
        waiting = asyncio.create_task(call(gw, TOOL, ORDER, buyer))
        approval_id = await until_pending(gw, alice)
        edit_policy(attack_policy, ONE_FINANCE_APPROVER, ONE_FINANCE_APPROVER.replace("1 finance-approver", "2 cfo"))
        await reloaded(gw)
        assert (await approve(gw, approval_id, alice)).status_code == 200
        refused = await asyncio.wait_for(waiting, 10)
        assert_superseded(refused, "needs 2 approvals by cfo", "0 of the votes cast qualify")
        assert backends.sap_writes() == []

        # Asking again opens a new approval under the new rule; two cfo release it.
        again = asyncio.create_task(call(gw, TOOL, ORDER, buyer))
        cfo = bearer(gw, "carl", "cfo")
        second = await until_pending(gw, cfo)
        assert second != approval_id
        assert (await approve(gw, second, cfo)).status_code == 200
        assert (await approve(gw, second, bearer(gw, "cora", "cfo"))).status_code == 200
        executed = await asyncio.wait_for(again, 10)
    assert executed.status_code == 200, executed.text
    assert len(backends.sap_writes()) == 1
    decided = [r for r in of_call(gw, executed.json()["call_id"]) if r.kind == "call.decided"][-1]
    assert [v["approver"] for v in decided.data["votes"]] == ["carl", "cora"]
    assert all(v["roles"] == ["cfo"] for v in decided.data["votes"])


async def test_a_5_second_rule_ttl_bounds_the_execution(
    start_gateway: GatewayFactory, backends: Backends, attack_policy: Path
) -> None:
    edit_policy(attack_policy, ONE_FINANCE_APPROVER, ONE_FINANCE_APPROVER.replace("4h", "5s"))
    async with attack_gateway(start_gateway, backends) as gw:
        buyer = bearer(gw, "buyer-bot", "procurement-agent")
        approval_id = await held(gw, TOOL, ORDER, buyer)
        approved = (await approve(gw, approval_id, bearer(gw, "alice", "finance-approver"))).json()["approval"]
        assert approved["execute_by"] == approved["decided_at"] + 5, "the rule's TTL, not the 300 s window"
        status = (await api(gw, "GET", f"/v1/calls/{approval_id}", buyer)).json()
        assert (status["status"], status["execute_by"]) == ("approved", approved["execute_by"])
        assert "again with the same arguments before 20" in status["message"]
        await asyncio.sleep(max(0.0, approved["execute_by"] + 0.3 - time.time()))
        late = await call(gw, TOOL, ORDER, buyer)
        again = await call(gw, TOOL, ORDER, buyer, Prefer="respond-async")
    assert_superseded(late, f"approval {approval_id} was not executed within its execution window")
    assert backends.sap_writes() == []
    assert again.status_code == 202 and again.json()["approval_id"] != approval_id, "a new request is decided afresh"


async def test_the_execution_window_is_configurable_and_not_the_outcome_retention(
    start_gateway: GatewayFactory, backends: Backends
) -> None:
    async with attack_gateway(start_gateway, backends, execution_window_seconds=0.5) as gw:
        buyer = bearer(gw, "buyer-bot", "procurement-agent")
        approval_id = await held(gw, TOOL, ORDER, buyer)
        assert (await approve(gw, approval_id, bearer(gw, "alice", "finance-approver"))).status_code == 200
        await asyncio.sleep(0.8)
        alice = bearer(gw, "alice", "finance-approver")
        shown = (await api(gw, "GET", f"/v1/approvals/{approval_id}", alice)).json()["approval"]
        late = await call(gw, TOOL, ORDER, buyer)
        superseded = (await api(gw, "GET", f"/v1/approvals/{approval_id}", alice)).json()["approval"]
    assert shown["outcome"] == {
        "executed": False,
        "status": "not run",
        "detail": "approved, but not executed within its execution window: it will not run",
    }
    assert superseded["state"] == "superseded" and superseded["outcome"]["status"] == "superseded"
    assert_superseded(late, "execution window")
    assert backends.sap_writes() == []


async def test_a_transfer_approved_at_1759_does_not_run_after_the_1800_deny_rule(
    start_gateway: GatewayFactory, backends: Backends
) -> None:
    transfer = {"from_account": 1000000001, "to_account": 1000000004, "amount": 500, "reference": "INV 4711"}
    before = {n: a["balance"] for n, a in backends.mainframe.accounts.items()}
    async with attack_gateway(start_gateway, backends, max_hold_seconds=20) as gw:
        monday = datetime(2026, 11, 30, 17, 59, 30, tzinfo=UTC)
        gw.gateway.pipeline.clock = lambda: monday
        agent = bearer(gw, "treasury-bot", "finance-agent")
        alice = bearer(gw, "alice", "finance-approver")
        waiting = asyncio.create_task(call(gw, "mainframe.funds_transfer", transfer, agent))
        approval_id = await until_pending(gw, alice)
        assert (await approve(gw, approval_id, alice)).status_code == 200
        gw.gateway.pipeline.clock = lambda: monday.replace(hour=18, minute=0, second=5)
        assert (await approve(gw, approval_id, bearer(gw, "bob", "finance-approver"))).status_code == 200
        response = await asyncio.wait_for(waiting, 10)
    assert_superseded(response, "Money moves only in office hours")
    assert {n: a["balance"] for n, a in backends.mainframe.accounts.items()} == before


async def test_an_mcp_agent_waiting_on_an_approval_gets_the_refusal(
    start_gateway: GatewayFactory, backends: Backends, attack_policy: Path
) -> None:
    async with attack_gateway(start_gateway, backends, max_hold_seconds=20) as gw:
        alice = bearer(gw, "alice", "finance-approver")
        async with connect(gw.mcp_url, gw.token("buyer-bot", ("procurement-agent",))) as client:
            waiting = asyncio.create_task(client.call_tool(TOOL, ORDER))
            approval_id = await until_pending(gw, alice)
            edit_policy(attack_policy, "", "# Forklifts are frozen.\np, *, *, sap.create_purchase_order, deny, true, -")
            await reloaded(gw)
            assert (await approve(gw, approval_id, alice)).status_code == 200
            result = await asyncio.wait_for(waiting, 10)
            status = await client.call_tool("gateway.approval_status", {"approval_id": approval_id})
    assert result.is_error and f"approval {approval_id} was superseded at execution" in result.content[0].text
    assert status.structured_content["status"] == "superseded"
    assert backends.sap_writes() == []
