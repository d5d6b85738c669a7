"""Automatic brakes end to end: crossing a threshold suspends the agent through the kill
switch, pending review by the brake's reviewer role."""

from __future__ import annotations

from pathlib import Path

from gateway.mcp.client import connect
from tests.support.incident import ORDER, admin, incident_backends, records

INVOICE = {"purchase_order_id": "4500000001", "amount": 10, "currency": "EUR"}
DENIED_BRAKE = {
    "name": "denied-burst",
    "count": "denied",
    "threshold": 3,
    "window_seconds": 60,
    "reviewer_roles": ["security-reviewer"],
}


async def test_denied_calls_trip_the_brake_and_a_reviewer_resumes(tmp_path: Path) -> None:
    async with incident_backends(tmp_path, brakes=[DENIED_BRAKE]) as b:
        gw = b.gw
        async with connect(gw.mcp_url, gw.token("buyer-bot", ("procurement-agent",))) as client:
            for _ in range(3):
                assert (await client.call_tool("sap.post_invoice", INVOICE)).is_error
            await gw.gateway.brakes.settle()
            stopped = await client.call_tool("sap.create_purchase_order", ORDER)
            assert stopped.is_error
            text = stopped.content[0].text
            assert "brake 'denied-burst': 3 denied calls within 60 s (threshold 3)" in text
            (suspension,) = gw.gateway.suspensions.active()
            assert suspension.source == "brake:denied-burst" and suspension.suspended_by == "gateway:brake"
            other = await admin(
                gw,
                "POST",
                f"/v1/admin/suspensions/{suspension.suspension_id}/resume",
                json={"reason": "mine"},
                who=("bob", ("approver",)),
            )
            assert other.status_code == 403
            reviewed = await admin(
                gw,
                "POST",
                f"/v1/admin/suspensions/{suspension.suspension_id}/resume",
                json={"reason": "reviewed: a test agent"},
                who=("sec", ("security-reviewer",)),
            )
            assert reviewed.status_code == 200, reviewed.text
            assert not (await client.call_tool("sap.create_purchase_order", ORDER)).is_error
        assert gw.gateway.brakes.trips.labels("denied-burst")._value.get() == 1
        log = await records(gw)
    resumed = next(r for r in log if r.kind == "agent.resumed")
    assert resumed.data["resumed_by"] == "sec"


async def test_the_amount_moved_trips_the_brake_but_dry_runs_do_not_count(tmp_path: Path) -> None:
    brake = {"name": "money", "count": "amount", "threshold": 1000, "window_seconds": 300, "tools": "mainframe.*"}
    transfer = {"from_account": 1000000001, "to_account": 1000000002, "amount": 400, "reference": "x"}
    async with incident_backends(tmp_path, brakes=[brake]) as b:
        async with connect(b.gw.mcp_url, b.gw.token("treasury", ("treasury-agent",))) as client:
            for _ in range(3):
                dry = await client.session.call_tool(
                    "mainframe.funds_transfer", transfer, meta={"io.agent-gateway/dryRun": True}
                )
                assert not dry.is_error
            assert not (await client.call_tool("mainframe.funds_transfer", transfer)).is_error
            assert not (await client.call_tool("mainframe.funds_transfer", transfer)).is_error
            await b.gw.gateway.brakes.settle()
            assert not b.gw.gateway.suspensions.active()
            assert not (await client.call_tool("mainframe.funds_transfer", transfer)).is_error
            await b.gw.gateway.brakes.settle()
            refused = await client.call_tool("mainframe.account_inquiry", {"account_number": 1000000001})
        assert refused.is_error and "1200 moved within 300 s" in refused.content[0].text
        assert len(b.mainframe.transfers) == 3


async def test_bad_brake_config_names_the_key(tmp_path: Path) -> None:
    from gateway.config import ConfigError
    from tests.support.gateway import gateway_config

    try:
        gateway_config(tmp_path, tmp_path, {}, brakes=[{"count": "vibes"}])
    except ConfigError as exc:
        assert "brakes.0.count" in str(exc)
    else:
        raise AssertionError("a bad brake was accepted")
