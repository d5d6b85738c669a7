"""MCP in full fidelity through the gateway, with the official SDK client: prompts and
resources governed per kind, progress and log messages relayed, cancellation reaching
the upstream, sampling and elicitation relayed and governed, list_changed, pagination,
and the Host/Origin allow-list."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.server import Server, ServerRequestContext
from starlette.applications import Starlette

from gateway.approvals.mcp_agent import STATUS_TOOL
from gateway.audit import read_records
from gateway.serving import running
from tests.support import conformance_stub
from tests.support.gateway import GatewayFactory, RunningGateway
from tests.support.mcp_app import mcp_app

#: Tools for testers, one prompt and one resource (plus templates) but nothing else of those kinds.
NARROW_POLICY = """\
p, tester, *, conf.*, allow, true, -
p, tester, *, prompts/conf.test_simple_prompt, allow, true, -
p, tester, *, prompts/conf.test_prompt_with_arguments, allow, true, -
p, tester, *, resources/conf.test://static-text, allow, true, -
p, tester, *, resources/conf.test://*/*/*, allow, true, -
# Nobody reads the binary resource, whatever else allows it.
p, *, *, resources/conf.test://static-binary, deny, true, -
p, tester, *, elicitation/conf.test_elicitation, allow, true, -
"""


def requests_decided(gw: RunningGateway) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(kind, item, effect, arguments) of every request but tool calls, as the audit log has them."""
    records = list(read_records(gw.config.audit.database))
    received = {r.call_id: r.data for r in records if r.kind == "call.received"}
    return [
        (received[r.call_id]["kind"], received[r.call_id]["tool"], r.data["effect"], received[r.call_id]["arguments"])
        for r in records
        if r.kind == "call.decided" and received[r.call_id]["kind"] != "tool"
    ]


@contextlib.asynccontextmanager
async def agent(gw: RunningGateway, mode: str = "legacy", token: str | None = None, **callbacks: Any):
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {token or gw.token()}"})
    transport = streamable_http_client(gw.mcp_url, http_client=http)
    async with http, Client(transport, mode=mode, cache=None, **callbacks) as client:
        yield client


@pytest.fixture
async def conf_gateway(start_gateway: GatewayFactory, policy_dir: Path) -> AsyncIterator[RunningGateway]:
    (policy_dir / "conformance.csv").write_text(NARROW_POLICY)
    async with running(conformance_stub.create_app()) as upstream:
        stanza = {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 5, "protocol": "legacy"}
        async with start_gateway({"conf": stanza}) as gw:
            yield gw


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_prompts_and_resources_are_namespaced_and_filtered(conf_gateway: RunningGateway, mode: str) -> None:
    async with agent(conf_gateway, mode) as client:
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        resources = {r.uri for r in (await client.list_resources()).resources}
        templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
        prompt = await client.get_prompt("conf.test_prompt_with_arguments", {"arg1": "a", "arg2": "b"})
        text = await client.read_resource("test://static-text")
        templated = await client.read_resource("test://template/7/data")
    assert prompts == {"conf.test_simple_prompt", "conf.test_prompt_with_arguments"}
    assert resources == {"test://static-text"}
    assert templates == ["test://template/{id}/data"]
    assert prompt.messages[0].content.text == "Prompt with arguments: arg1='a', arg2='b'"
    assert text.contents[0].text == "This is the content of the static text resource."
    assert '"id": "7"' in templated.contents[0].text
    # What the upstream says about itself is not passed off as the gateway's (2026-07-28
    # results name their server).
    assert (text.meta or {}).get("io.modelcontextprotocol/serverInfo", {}).get("name") in (None, "agent-gateway")


async def test_prompt_and_resource_denied_by_policy_are_refused_and_audited(conf_gateway: RunningGateway) -> None:
    async with agent(conf_gateway) as client:
        with pytest.raises(MCPError) as prompt_refusal:
            await client.get_prompt("conf.test_prompt_with_image")
        with pytest.raises(MCPError) as resource_refusal:
            await client.read_resource("test://static-binary")
        with pytest.raises(MCPError) as unknown:
            await client.get_prompt("conf.nope")
    assert "no rule allows 'agent-1'" in prompt_refusal.value.error.message
    assert "prompts/conf.test_prompt_with_image" in prompt_refusal.value.error.message
    # Worded as a tool call's refusal is: the rule that decided, and its purpose.
    assert resource_refusal.value.error.message == (
        "denied by conformance.csv:7: Nobody reads the binary resource, whatever else allows it."
    )
    # An unknown prompt is refused like a forbidden one: nothing tells which names exist.
    assert "prompts/conf.nope: denied by default" in unknown.value.error.message
    assert [d[:3] for d in requests_decided(conf_gateway)] == [
        ("prompt", "test_prompt_with_image", "deny"),
        ("resource", "test://static-binary", "deny"),
        ("prompt", "nope", "deny"),
    ]


async def test_tool_rules_grant_no_prompts_or_resources(start_gateway: GatewayFactory, policy_dir: Path) -> None:
    (policy_dir / "conformance.csv").write_text("p, tester, *, *, allow, true, -\n")
    async with running(conformance_stub.create_app()) as upstream:
        stanza = {"kind": "mcp", "url": f"{upstream}/mcp", "protocol": "legacy"}
        async with start_gateway({"conf": stanza}) as gw, agent(gw) as client:
            # Every agent also sees the gateway's own approval-status tool.
            assert len((await client.list_tools()).tools) == len(conformance_stub.TOOLS) + 1
            assert (await client.list_prompts()).prompts == []
            assert (await client.list_resources()).resources == []
            with pytest.raises(MCPError, match="no rule allows"):
                await client.read_resource("test://static-text")


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_upstream_progress_and_logs_reach_the_agent(conf_gateway: RunningGateway, mode: str) -> None:
    progress: list[tuple[float, float | None, str | None]] = []
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append((value, total, message))

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with agent(conf_gateway, mode, logging_callback=on_log, log_level="debug") as client:
        await client.call_tool("conf.test_tool_with_progress", {}, progress_callback=on_progress)
        await client.call_tool("conf.test_tool_with_logging", {})
        await asyncio.sleep(0.1)
    assert progress == [(0, 100, "0%"), (50, 100, "50%"), (100, 100, "100%")]
    assert [(entry.level, entry.data) for entry in logs] == [
        ("info", "tool started"),
        ("info", "tool working"),
        ("info", "tool finished"),
    ]


async def test_agent_log_level_filters_relayed_messages(conf_gateway: RunningGateway) -> None:
    logs: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async with agent(conf_gateway, logging_callback=on_log) as client:
        await client.set_logging_level("warning")
        await client.call_tool("conf.test_tool_with_logging", {})
        await asyncio.sleep(0.1)
    assert logs == []


async def test_elicitation_is_relayed_answered_and_audited(conf_gateway: RunningGateway) -> None:
    asked: list[str] = []

    async def on_elicit(context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        return types.ElicitResult(action="accept", content={"username": "ada", "email": "ada@example.com"})

    async with agent(conf_gateway, elicitation_callback=on_elicit) as client:
        answered = await client.call_tool("conf.test_elicitation", {"message": "Who are you?"})
        # No rule allows this tool's upstream to ask the agent: the upstream gets an error.
        refused = await client.call_tool("conf.test_elicitation_sep1034_defaults", {})
    assert asked == ["Who are you?"]
    assert '"username": "ada"' in answered.content[0].text
    assert refused.is_error and "elicitation/conf.test_elicitation_sep1034_defaults" in refused.content[0].text
    assert requests_decided(conf_gateway) == [
        ("elicitation", "test_elicitation", "allow", {"message": "Who are you?"}),
        ("elicitation", "test_elicitation_sep1034_defaults", "deny", {"message": ANY}),
    ]


def lab_upstream() -> Starlette:
    """An upstream whose `wait` tool records whether it was cancelled, whose `grow` tool
    adds a tool and announces it (tools/list_changed), and whose `touch` tool announces an
    update of the resource `lab://note` to its subscribers."""
    events: list[str] = []
    tools = [types.Tool(name=n, input_schema={"type": "object"}) for n in ("wait", "grow", "touch")]
    note = types.Resource(uri="lab://note", name="note")

    async def list_resources(ctx: ServerRequestContext, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[note])

    async def subscribe(ctx: ServerRequestContext, params: types.SubscribeRequestParams) -> types.EmptyResult:
        events.append(f"subscribed {params.uri}")
        return types.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        events.append(f"unsubscribed {params.uri}")
        return types.EmptyResult()

    async def list_tools(ctx: ServerRequestContext, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name == "touch":
            await ctx.session.send_resource_updated("lab://note")
            return types.CallToolResult(content=[types.TextContent(text="touched")])
        if params.name == "grow":
            tools.append(types.Tool(name=f"grown{len(tools)}", input_schema={"type": "object"}))
            await ctx.session.send_tool_list_changed()
            return types.CallToolResult(content=[types.TextContent(text="grown")])
        events.append("started")
        try:
            await asyncio.sleep(10)
        except asyncio.CancelledError:
            events.append("cancelled")
            raise
        return types.CallToolResult(content=[types.TextContent(text="waited")])

    server = Server(
        "lab",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        on_list_resources=list_resources,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
    )
    app = mcp_app(server)
    app.state.events = events
    return app


@pytest.fixture
async def lab_gateway(
    start_gateway: GatewayFactory, policy_dir: Path
) -> AsyncIterator[tuple[RunningGateway, Starlette]]:
    (policy_dir / "lab.csv").write_text(
        "p, tester, *, lab.*, allow, true, -\np, tester, *, resources/lab.lab://note, allow, true, -\n"
    )
    app = lab_upstream()
    async with running(app) as upstream:
        stanza = {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 5, "protocol": "legacy"}
        async with start_gateway({"lab": stanza}, policy={"watch": True}) as gw:
            yield gw, app


async def until(condition: Any, what: str, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_agent_cancel_stops_the_upstream_call(lab_gateway, mode: str) -> None:
    gw, upstream = lab_gateway
    async with agent(gw, mode) as client:
        call = asyncio.create_task(client.call_tool("lab.wait", {}))
        await until(lambda: "started" in upstream.state.events, "the upstream call to start")
        call.cancel()
        await until(lambda: "cancelled" in upstream.state.events, "the upstream call to be cancelled")
    assert upstream.state.events == ["started", "cancelled"]

    def completed() -> list[str]:
        return [r.data["status"] for r in read_records(gw.config.audit.database) if r.kind == "call.completed"]

    # The outcome is recorded as the cancelled call unwinds, which may be just after the agent left.
    await until(completed, "the cancelled call's outcome record")
    assert completed() == ["error"]


async def test_resource_updates_reach_subscribed_agents(lab_gateway) -> None:
    gw, upstream = lab_gateway
    updates: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updates.append(str(message.params.uri))

    async with agent(gw, message_handler=on_message) as client, agent(gw) as other:
        await client.subscribe_resource("lab://note")
        await other.subscribe_resource("lab://note")
        await other.call_tool("lab.touch", {})
        await until(lambda: updates, "resources/updated for the subscriber")
        await client.unsubscribe_resource("lab://note")
        await other.unsubscribe_resource("lab://note")
    assert updates == ["lab://note"]
    # One upstream subscription serves every agent: taken by the first, released by the last.
    assert [e for e in upstream.state.events if "subscribed" in e] == [
        "subscribed lab://note",
        "unsubscribed lab://note",
    ]


async def test_list_changed_reaches_agents_on_upstream_and_policy_change(lab_gateway, policy_dir: Path) -> None:
    gw, _ = lab_gateway
    seen: list[str] = []

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ToolListChangedNotification):
            seen.append("tools")

    async with agent(gw, message_handler=on_message) as client:
        assert {t.name for t in (await client.list_tools()).tools} == {"lab.wait", "lab.grow", "lab.touch", STATUS_TOOL}
        await client.call_tool("lab.grow", {})
        await until(lambda: seen, "tools/list_changed after the upstream's change")
        assert any(t.name.startswith("lab.grown") for t in (await client.list_tools()).tools)

        (policy_dir / "lab.csv").write_text("p, tester, *, lab.wait, allow, true, -\n")
        await until(lambda: len(seen) >= 2, "tools/list_changed after the policy change")
        assert {t.name for t in (await client.list_tools()).tools} == {"lab.wait", STATUS_TOOL}
    reloads = [r for r in read_records(gw.config.audit.database) if r.kind == "policy.reloaded"]
    assert len(reloads) == 1


async def test_large_catalogs_paginate(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, _ = echo_upstream
    connectors = {"echo": {"kind": "mcp", "url": url}}
    async with start_gateway(connectors, frontdoors={"page_size": 2}) as gw, agent(gw) as client:
        first = await client.list_tools()
        second = await client.list_tools(cursor=first.next_cursor)
        with pytest.raises(MCPError, match="invalid cursor 'x'"):
            await client.list_tools(cursor="x")
    assert len(first.tools) == 2 and first.next_cursor == "2"
    assert len(second.tools) == 2 and second.next_cursor is None
    assert {t.name for t in first.tools + second.tools} == {"echo.echo", "echo.add", "echo.sleep", STATUS_TOOL}


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({}, 200),
        ({"Host": "evil.example"}, 421),
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "http://localhost:3000"}, 200),
    ],
)
async def test_host_and_origin_allow_list_on_loopback(echo_gateway: RunningGateway, headers, status) -> None:
    sent = {
        "Authorization": f"Bearer {echo_gateway.token()}",
        "Accept": "application/json, text/event-stream",
        **headers,
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(echo_gateway.mcp_url, json=INITIALIZE, headers=sent)
    assert response.status_code == status, response.text


async def test_configured_allow_list_replaces_the_loopback_default(echo_upstream, start_gateway) -> None:
    url, _ = echo_upstream
    server = {"allowed_hosts": ["gateway.example:*"], "allowed_origins": ["https://console.example"]}
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, server=server) as gw:
        sent = {"Authorization": f"Bearer {gw.token()}", "Accept": "application/json, text/event-stream"}
        async with httpx.AsyncClient() as http:
            loopback = await http.post(gw.mcp_url, json=INITIALIZE, headers=sent)
            named = await http.post(gw.mcp_url, json=INITIALIZE, headers={**sent, "Host": "gateway.example:443"})
            origin = await http.post(
                gw.mcp_url,
                json=INITIALIZE,
                headers={**sent, "Host": "gateway.example:443", "Origin": "https://console.example"},
            )
    assert loopback.status_code == 421
    assert named.status_code == 200 and origin.status_code == 200


async def test_elicitation_cannot_reach_an_agent_without_back_channel(conf_gateway: RunningGateway) -> None:
    async with agent(conf_gateway, "2026-07-28") as client:
        result = await client.call_tool("conf.test_elicitation", {"message": "Who are you?"})
    assert result.is_error
    assert "no back-channel" in result.content[0].text
    records = list(read_records(conf_gateway.config.audit.database))
    asking = next(r.call_id for r in records if r.kind == "call.received" and r.data["kind"] == "elicitation")
    kinds = [r.kind for r in records if r.call_id == asking]
    assert kinds == ["call.received", "call.decided", "call.forwarded", "call.completed"]
    completed = next(r.data for r in records if r.call_id == asking and r.kind == "call.completed")
    assert completed["status"] == "error" and "no back-channel" in completed["error"]
