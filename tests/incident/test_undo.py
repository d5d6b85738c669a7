"""Undo end to end: compensations recorded at completion, listed newest first, run through
the pipeline as the operator's calls linked to the originals, and really done in the stubs."""

from __future__ import annotations

import asyncio
import time
from decimal import Decimal
from pathlib import Path

import httpx
from click.testing import CliRunner

from gateway.cli.main import main
from gateway.mcp.client import connect
from tests.support.incident import ORDER, RESPONDER, Backends, admin, incident_backends, records


async def _undo(b: Backends, who: tuple[str, tuple[str, ...]] = RESPONDER, **body: object) -> dict:
    response = await admin(b.gw, "POST", "/v1/admin/undo", json=body, who=who)
    assert response.status_code == 200, response.text
    return response.json()


async def _buyer_session(b: Backends) -> list[str]:
    """Two orders created, the first read and released; returns the two order numbers."""
    async with connect(b.gw.mcp_url, b.gw.token("buyer-bot", ("procurement-agent",))) as client:
        first = await client.call_tool("sap.create_purchase_order", ORDER)
        second = await client.call_tool("sap.create_purchase_order", {**ORDER, "description": "Crates"})
        numbers = [r.structured_content["purchase_order"]["PurchaseOrder"] for r in (first, second)]
        await client.call_tool("sap.get_purchase_order", {"purchase_order_id": numbers[0]})
        released = await client.call_tool("sap.release_purchase_order", {"purchase_order_id": numbers[0]})
        assert not released.is_error, released.content[0].text
    return numbers


async def test_an_agents_orders_are_listed_newest_first_then_cancelled_for_real(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        since = time.time() - 1
        numbers = await _buyer_session(b)
        listed = await _undo(b, agent="buyer-bot", since=since)
        assert [s["tool"] for s in listed["steps"]] == [
            "sap.release_purchase_order",
            "sap.get_purchase_order",
            "sap.create_purchase_order",
            "sap.create_purchase_order",
        ]
        assert [s["state"] for s in listed["steps"]] == ["no_compensation", "read_only", "compensable", "compensable"]
        assert [s["compensation"]["arguments"] for s in listed["steps"][2:]] == [
            {"purchase_order_id": numbers[1]},
            {"purchase_order_id": numbers[0]},
        ]
        assert {b.orders()[n]["ReleaseStatus"] for n in numbers} == {"RELEASED", "NOT_RELEASED"}  # a dry run
        done = await _undo(b, agent="buyer-bot", since=since, execute=True)
        outcomes = [s.get("outcome", {}).get("status") for s in done["steps"]]
        assert outcomes == [None, None, "ok", "ok"]
        assert [b.orders()[n]["ReleaseStatus"] for n in numbers] == ["CANCELLED", "CANCELLED"]
        again = await _undo(b, agent="buyer-bot", since=since)
        assert [s["state"] for s in again["steps"][2:]] == ["already_compensated"] * 2
        log = await records(b.gw)
    compensations = [r for r in log if r.kind == "call.received" and r.data["compensates"]]
    originals = {s["call_id"] for s in listed["steps"][2:]}
    assert {r.data["compensates"] for r in compensations} == originals
    assert all(r.data["principal"]["subject"] == "oncall" and r.data["front_door"] == "undo" for r in compensations)
    requested = [r.data for r in log if r.kind == "undo.requested"]
    assert [(r["by"], r["execute"]) for r in requested] == [("oncall", False), ("oncall", True), ("oncall", False)]


async def test_a_transfer_in_a_trace_is_reversed_on_the_mainframe(tmp_path: Path) -> None:
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with incident_backends(tmp_path) as b:
        headers = {
            "Authorization": f"Bearer {b.gw.token('treasury', ('treasury-agent',))}",
            "traceparent": f"00-{trace}-00f067aa0ba902b7-01",
        }
        transfer = {"from_account": 1000000001, "to_account": 1000000004, "amount": 230.5, "reference": "oops"}
        async with httpx.AsyncClient(base_url=b.gw.url, headers=headers) as http:
            moved = await http.post("/v1/tools/mainframe.funds_transfer:call", json=transfer)
        assert moved.status_code == 200, moved.text
        confirmation = moved.json()["structured_content"]["confirmation"]
        assert b.mainframe.accounts[1000000004]["balance"] == Decimal("230.50")
        done = await _undo(b, trace_id=trace, execute=True)
        (step,) = done["steps"]
        assert step["compensation"] == {
            "tool": "mainframe.funds_transfer_reversal",
            "arguments": {"confirmation": confirmation},
        }
        assert step["outcome"]["status"] == "ok", step
        assert b.mainframe.accounts[1000000001]["balance"] == Decimal("15230.75")
        assert b.mainframe.accounts[1000000004]["balance"] == Decimal("0.00")
        assert b.mainframe.transfers[confirmation]["reversal"].startswith("XR")


async def test_the_policy_decides_the_compensation_and_a_refusal_stops_the_run(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        since = time.time() - 1
        numbers = await _buyer_session(b)
        # An admin without the responder role: the policy denies the cancel itself.
        done = await _undo(b, who=("admin-only", ("gateway-admin",)), agent="buyer-bot", since=since, execute=True)
    outcomes = [s.get("outcome", {}) for s in done["steps"][2:]]
    assert outcomes[0]["status"] == "denied", outcomes[0]
    assert "no rule allows 'admin-only'" in outcomes[0]["detail"]
    assert outcomes[1]["status"] == "not_run"
    assert {b.orders()[n]["ReleaseStatus"] for n in numbers} == {"RELEASED", "NOT_RELEASED"}


async def test_bad_undo_requests(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        cases = [
            ({"trace_id": "a", "call_id": "b"}, 400, "exactly one"),
            ({"agent": "x"}, 400, "go together"),
            ({"agent": "x", "since": "yesterday"}, 400, "neither ISO 8601"),
            ({"call_id": "c", "execute": "yes"}, 400, "execute"),
            ({}, 400, "exactly one"),
        ]
        for body, status, words in cases:
            response = await admin(b.gw, "POST", "/v1/admin/undo", json=body)
            assert response.status_code == status and words in response.json()["detail"], (body, response.text)
        agent = await admin(b.gw, "POST", "/v1/admin/undo", json={"call_id": "c"}, who=("buyer-bot", ("x",)))
        assert agent.status_code == 403
        assert (await _undo(b, call_id="no-such-call"))["steps"] == []


async def test_cli_lists_then_executes(tmp_path: Path) -> None:
    async with incident_backends(tmp_path) as b:
        since = time.time() - 1
        numbers = await _buyer_session(b)
        token = b.gw.token(*RESPONDER)
        args = ["undo", "--agent", "buyer-bot", "--since", str(since), "--url", b.gw.url, "--token", token]
        listed = await asyncio.to_thread(CliRunner().invoke, main, args)
        executed = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--execute"])
        usage = await asyncio.to_thread(CliRunner().invoke, main, ["undo", "--agent", "x", "--token", token])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert "NO COMPENSATION" in lines[0] and "read-only" in lines[1]
    assert f'-> sap.cancel_purchase_order {{"purchase_order_id": "{numbers[1]}"}}' in lines[2]
    assert "dry run: nothing was changed" in lines[-1]
    assert executed.exit_code == 0 and executed.output.count("[ok:") == 2, executed.output
    assert usage.exit_code == 2 and "--since TIME" in usage.output
