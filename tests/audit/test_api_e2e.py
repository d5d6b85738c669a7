"""The auditor's REST endpoint on a running gateway: the story of a call, for auditors only."""

from __future__ import annotations

import httpx

from gateway.mcp.client import connect
from tests.support.gateway import RunningGateway


async def test_auditor_reads_the_story_of_a_call(echo_gateway: RunningGateway) -> None:
    trace_id = "0af7651916cd43dd8448eb211c80319c"
    async with connect(echo_gateway.mcp_url, echo_gateway.token("agent-9")) as client:
        await client.call_tool("echo.echo", {"text": "audited"})
    auditor = {"Authorization": f"Bearer {echo_gateway.token('compliance', roles=('auditor',))}"}
    agent = {"Authorization": f"Bearer {echo_gateway.token('agent-9')}"}
    async with httpx.AsyncClient(base_url=echo_gateway.url) as http:
        calls = await http.get("/v1/audit/calls", params={"agent": "agent-9"}, headers=auditor)
        forbidden = await http.get("/v1/audit/calls", headers=agent)
        anonymous = await http.get("/v1/audit/calls")
        unknown_trace = await http.get(f"/v1/audit/traces/{trace_id}", headers=auditor)
    assert calls.status_code == 200, calls.text
    (call,) = calls.json()["calls"]
    assert (call["agent"], call["connector"], call["tool"], call["effect"], call["status"]) == (
        "agent-9",
        "echo",
        "echo",
        "allow",
        "ok",
    )
    async with httpx.AsyncClient(base_url=echo_gateway.url) as http:
        story = (await http.get(f"/v1/audit/traces/{call['trace_id']}", headers=auditor)).json()
    kinds = [r["kind"] for r in story["calls"][0]["records"]]
    assert kinds == ["call.received", "call.decided", "call.forwarded", "call.completed"]
    assert forbidden.status_code == 403
    assert anonymous.status_code == 401 and "missing bearer token" in anonymous.json()["detail"]
    assert unknown_trace.status_code == 404
