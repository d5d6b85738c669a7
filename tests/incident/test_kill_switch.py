"""The kill switch end to end: real gateway, MCP SDK client, real tokens, SQLite store."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from starlette.applications import Starlette

from gateway.mcp.client import connect
from tests.support.gateway import RunningGateway
from tests.support.incident import admin, records, resume, suspend


async def test_a_suspended_agent_is_refused_with_the_reason_and_others_go_on(echo_gateway: RunningGateway) -> None:
    gw = echo_gateway
    async with connect(gw.mcp_url, gw.token("agent-1")) as one, connect(gw.mcp_url, gw.token("agent-2")) as two:
        assert not (await one.call_tool("echo.echo", {"text": "before"})).is_error
        suspension = await suspend(gw, scope="subject", value="agent-1", reason="prompt injection suspected")
        refused = await one.call_tool("echo.echo", {"text": "after"})
        assert refused.is_error
        text = refused.content[0].text
        assert "agent 'agent-1' is suspended" in text and "prompt injection suspected" in text and "oncall" in text
        assert not (await two.call_tool("echo.echo", {"text": "other agent"})).is_error
        assert (await resume(gw, suspension["suspension_id"], "injection source removed")).status_code == 200
        assert not (await one.call_tool("echo.echo", {"text": "resumed"})).is_error
    log = await records(gw)
    suspended = next(r for r in log if r.kind == "agent.suspended")
    assert suspended.data["suspended_by"] == "oncall" and suspended.data["reason"] == "prompt injection suspected"
    resumed = next(r for r in log if r.kind == "agent.resumed")
    assert resumed.data["resumed_by"] == "oncall" and resumed.data["resume_reason"] == "injection source removed"
    rejected = [r for r in log if r.kind == "call.rejected"]
    assert [r.data["stage"] for r in rejected] == ["suspension"]
    assert gw.gateway.metrics.incident.suspended_refused.labels("subject")._value.get() == 1


async def test_rest_front_door_refuses_with_403_problem(echo_gateway: RunningGateway) -> None:
    gw = echo_gateway
    await suspend(gw, scope="subject", value="agent-1", tenant="acme")
    refused = await admin(
        gw, "POST", "/v1/tools/echo.echo:call", json={"text": "x"}, who=("agent-1", ("tester",)), headers={}
    )
    assert refused.status_code == 200  # a token without tenant acme is not this suspension's agent
    agent = gw.token("agent-1", ("tester",), tenant="acme")
    import httpx

    async with httpx.AsyncClient(base_url=gw.url, headers={"Authorization": f"Bearer {agent}"}) as http:
        response = await http.post("/v1/tools/echo.echo:call", json={"text": "x"})
    assert response.status_code == 403
    assert "in tenant 'acme' is suspended" in response.json()["detail"]


@pytest.mark.parametrize(
    ("body", "stopped", "spared"),
    [
        ({"scope": "tenant", "value": "acme"}, {"tenant": "acme"}, {"tenant": "globex"}),
        ({"scope": "client", "value": "buyer-app"}, {"extra": {"client_id": "buyer-app"}}, {"extra": {"azp": "x"}}),
        ({"scope": "client", "value": "buyer-app"}, {"extra": {"azp": "buyer-app"}}, {}),
        ({"scope": "all"}, {"tenant": "globex"}, None),
    ],
)
async def test_scopes(echo_gateway: RunningGateway, body: dict, stopped: dict, spared: dict | None) -> None:
    gw = echo_gateway
    await suspend(gw, **body)
    async with connect(gw.mcp_url, gw.token("agent-9", ("tester",), **stopped)) as client:
        assert (await client.call_tool("echo.echo", {"text": "x"})).is_error
    if spared is not None:
        async with connect(gw.mcp_url, gw.token("agent-9", ("tester",), **spared)) as client:
            assert not (await client.call_tool("echo.echo", {"text": "x"})).is_error


async def test_the_client_name_an_agent_sends_itself_does_not_slip_past(echo_gateway: RunningGateway) -> None:
    """Suspending a client goes by the signed token claim; the MCP clientInfo name is the
    agent's own word and must not be what decides (neither to stop nor to spare)."""
    gw = echo_gateway
    await suspend(gw, scope="client", value="mcp")  # the SDK client's own clientInfo name
    async with connect(gw.mcp_url, gw.token("agent-1", ("tester",), extra={"client_id": "real-app"})) as client:
        assert not (await client.call_tool("echo.echo", {"text": "x"})).is_error


async def test_an_in_flight_call_is_cancelled(
    echo_gateway: RunningGateway, echo_upstream: tuple[str, Starlette]
) -> None:
    gw = echo_gateway
    async with connect(gw.mcp_url, gw.token("agent-1")) as client:
        started = time.monotonic()
        slow = asyncio.create_task(client.call_tool("echo.sleep", {"seconds": 30}))
        await asyncio.sleep(0.5)
        await suspend(gw, scope="subject", value="agent-1", reason="stop it now")
        result = await asyncio.wait_for(slow, 5)
    assert time.monotonic() - started < 5
    assert result.is_error and "stop it now" in result.content[0].text
    completed = [r for r in await records(gw) if r.kind == "call.completed"]
    assert completed[-1].data["status"] == "error" and "suspended" in completed[-1].data["error"]
    assert gw.gateway.metrics.incident.suspended_cancelled._value.get() == 1


async def test_held_calls_of_the_suspended_agent_are_denied(
    echo_upstream: tuple[str, Starlette], start_gateway, policy_dir: Path
) -> None:
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\n# Large sums need one approver.\np, tester, *, echo.add, approve, r.args.a > 100, 1 approver 1h\n")
    url, upstream_app = echo_upstream
    async with start_gateway({"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}) as gw:
        async with connect(gw.mcp_url, gw.token("agent-1")) as client:
            held = asyncio.create_task(client.call_tool("echo.add", {"a": 1000, "b": 1}))
            pending: list = []
            while not pending:
                await asyncio.sleep(0.05)
                pending = (await admin(gw, "GET", "/v1/approvals", who=("alice", ("approver",)))).json()["approvals"]
            await suspend(gw, scope="subject", value="agent-1", reason="looping on add")
            result = await asyncio.wait_for(held, 5)
        assert result.is_error and "looping on add" in result.content[0].text
        shown = await admin(gw, "GET", f"/v1/approvals/{pending[0]['approval_id']}", who=("alice", ("approver",)))
        approval = shown.json()["approval"]
        assert approval["state"] == "denied" and approval["votes"][0]["approver"] == "gateway:kill-switch"
    assert [c["tool"] for c in upstream_app.state.calls] == []


async def test_bad_requests_get_precise_errors(echo_gateway: RunningGateway) -> None:
    gw = echo_gateway
    cases = [
        ({"scope": "subject", "reason": "x"}, 400, "needs the subject name"),
        ({"scope": "subject", "value": "a"}, 400, "reason"),
        ({"scope": "subject", "value": "a", "reason": "   "}, 400, "reason is required"),
        ({"scope": "planet", "value": "a", "reason": "x"}, 400, "scope"),
        ({"scope": "all", "tenant": "acme", "reason": "x"}, 400, "names no subject"),
        ({"scope": "subject", "value": "a", "reason": "x", "extra": 1}, 400, "extra"),
    ]
    for body, status, words in cases:
        response = await admin(gw, "POST", "/v1/admin/suspensions", json=body)
        assert response.status_code == status, (body, response.text)
        assert words in response.json()["detail"], (body, response.json())
    not_json = await admin(
        gw,
        "POST",
        "/v1/admin/suspensions",
        content=b"scope=all",
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert not_json.status_code == 415
    agent = await admin(
        gw, "POST", "/v1/admin/suspensions", json={"scope": "all", "reason": "x"}, who=("agent-1", ("tester",))
    )
    assert agent.status_code == 403
    async_anon = await admin(gw, "GET", "/v1/admin/suspensions", who=("x", ()))
    assert async_anon.status_code == 403
    assert (await resume(gw, "sus_nope")).status_code == 404
    suspension = await suspend(gw, scope="all")
    assert (await resume(gw, suspension["suspension_id"])).status_code == 200
    again = await resume(gw, suspension["suspension_id"])
    assert again.status_code == 409 and "already resumed" in again.json()["detail"]
    listed = (await admin(gw, "GET", "/v1/admin/suspensions", params={"state": "all"})).json()["suspensions"]
    assert [s["active"] for s in listed] == [False]


async def test_prompts_and_resources_of_a_suspended_agent_are_refused_and_audited(
    start_gateway, policy_dir: Path
) -> None:
    from mcp import MCPError

    from gateway.serving import running
    from tests.support import conformance_stub

    (policy_dir / "conformance.csv").write_text(
        "p, tester, *, prompts/conf.test_simple_prompt, allow, true, -\n"
        "p, tester, *, resources/conf.test://static-text, allow, true, -\n"
    )
    async with running(conformance_stub.create_app()) as upstream:
        stanza = {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 5, "protocol": "legacy"}
        async with start_gateway({"conf": stanza}) as gw, connect(gw.mcp_url, gw.token("agent-1")) as client:
            assert (await client.session.read_resource("test://static-text")).contents
            await suspend(gw, scope="subject", value="agent-1", reason="reads too much")
            for read in (
                client.session.read_resource("test://static-text"),
                client.session.get_prompt("conf.test_simple_prompt"),
            ):
                with pytest.raises(MCPError) as refused:
                    await read
                assert "reads too much" in refused.value.error.message
            log = await records(gw)
    kinds = {r.call_id: r.data["kind"] for r in log if r.kind == "call.received"}
    rejected = [(kinds[r.call_id], r.data["stage"]) for r in log if r.kind == "call.rejected"]
    assert rejected == [("resource", "suspension"), ("prompt", "suspension")]
