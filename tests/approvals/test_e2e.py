"""Held calls end to end: the official MCP SDK client, the gateway and the echo upstream on
real servers; approvers act through the REST API with real JWTs."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.mcp.client import connect
from tests.support.gateway import GatewayFactory, RunningGateway

ARGS = {"a": 1000, "b": 101}


@pytest.fixture
def approve_rule(policy_dir: Path) -> None:
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\n# Large sums need two approvers.\np, tester, *, echo.add, approve, r.args.a > 100, 2 approver 1h\n")


def connectors(url: str) -> dict[str, Any]:
    return {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}


async def pending_id(gw: RunningGateway) -> str:
    async with httpx.AsyncClient(base_url=gw.url, headers=approver(gw, "alice")) as http:
        async with asyncio.timeout(10):
            while not (items := (await http.get("/v1/approvals")).json()["approvals"]):
                await asyncio.sleep(0.02)
    return items[0]["approval_id"]


def approver(gw: RunningGateway, subject: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {gw.token(subject, ('approver',))}"}


async def vote(gw: RunningGateway, approval_id: str, subject: str, verb: str = "approve", comment: str = "") -> dict:
    async with httpx.AsyncClient(base_url=gw.url, headers=approver(gw, subject)) as http:
        response = await http.post(f"/v1/approvals/{approval_id}/{verb}", json={"comment": comment})
    assert response.status_code == 200, response.text
    return response.json()["approval"]


@pytest.mark.usefixtures("approve_rule")
async def test_quorum_of_two_with_progress(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, upstream = echo_upstream
    async with start_gateway(connectors(url)) as gw, connect(gw.mcp_url, gw.token()) as client:
        progress: list[tuple[float, float | None, str | None]] = []

        async def on_progress(value: float, total: float | None, message: str | None) -> None:
            progress.append((value, total, message))

        call = asyncio.create_task(client.call_tool("echo.add", ARGS, progress_callback=on_progress))
        approval_id = await pending_id(gw)
        await vote(gw, approval_id, "alice", comment="checked")
        async with asyncio.timeout(5):
            while len(progress) < 2:
                await asyncio.sleep(0.02)
        assert not call.done()
        await vote(gw, approval_id, "bob")
        result = await asyncio.wait_for(call, 10)
    assert not result.is_error, result
    assert result.content[0].text == "1101"
    assert [(v, t) for v, t, _ in progress[:2]] == [(0.0, 2.0), (1.0, 2.0)]
    assert progress[1][2] == f"awaiting approval 1 of 2 (id {approval_id})"
    assert [c["tool"] for c in upstream.state.calls] == ["add"]


@pytest.mark.usefixtures("approve_rule")
async def test_concurrent_retries_execute_once(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, upstream = echo_upstream
    async with start_gateway(connectors(url)) as gw, connect(gw.mcp_url, gw.token()) as client:
        calls = [asyncio.create_task(client.call_tool("echo.add", ARGS)) for _ in range(5)]
        approval_id = await pending_id(gw)
        await asyncio.sleep(0.2)
        await vote(gw, approval_id, "alice")
        await vote(gw, approval_id, "bob")
        results = await asyncio.wait_for(asyncio.gather(*calls), 10)
        later = await client.call_tool("echo.add", ARGS)
    assert [r.content[0].text for r in [*results, later]] == ["1101"] * 6
    assert len(upstream.state.calls) == 1, "an approved call executes exactly once"


@pytest.mark.usefixtures("approve_rule")
async def test_deny_and_self_approval(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, upstream = echo_upstream
    async with start_gateway(connectors(url)) as gw, connect(gw.mcp_url, gw.token()) as client:
        call = asyncio.create_task(client.call_tool("echo.add", ARGS))
        approval_id = await pending_id(gw)
        async with httpx.AsyncClient(base_url=gw.url) as http:
            # The agent's own identity, even with the approver role, cannot approve its call.
            own = {"Authorization": f"Bearer {gw.token('agent-1', ('tester', 'approver'))}"}
            refused = await http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=own)
            assert refused.status_code == 403
            assert refused.json()["detail"] == "agent-1 requested this call and cannot vote on its own approval"
            plain = {"Authorization": f"Bearer {gw.token('eve', ('tester',))}"}
            assert (await http.post(f"/v1/approvals/{approval_id}/approve", headers=plain)).status_code == 403
        await vote(gw, approval_id, "alice", "deny", "not within budget")
        result = await asyncio.wait_for(call, 10)
    assert result.is_error
    assert result.content[0].text == "denied by alice: not within budget"
    assert upstream.state.calls == []


@pytest.mark.usefixtures("approve_rule")
async def test_pending_survives_a_restart_and_a_retry_gets_the_result(
    echo_upstream, start_gateway: GatewayFactory
) -> None:
    url, upstream = echo_upstream
    quick = {"max_hold_seconds": 0.3}
    async with start_gateway(connectors(url), approvals=quick) as gw, connect(gw.mcp_url, gw.token()) as client:
        first = await client.call_tool("echo.add", ARGS)
        assert first.is_error
        assert "awaiting approval 0 of 2 (id apr_" in first.content[0].text
        approval_id = first.content[0].text.split("(id ")[1].split(")")[0]
    async with start_gateway(connectors(url), approvals=quick) as gw:
        await vote(gw, approval_id, "alice")
        await vote(gw, approval_id, "bob")
        async with connect(gw.mcp_url, gw.token()) as client:
            retried = await client.call_tool("echo.add", ARGS)
    assert retried.content[0].text == "1101"
    assert len(upstream.state.calls) == 1
