"""The whole path of one call through the MCP front door, on real servers."""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from mcp import MCPError

from connectors.mcp import stub as echo_stub
from gateway.audit import read_records
from gateway.audit.sqlite_store import iter_log
from gateway.audit.verify import verify
from gateway.mcp.client import ClientFailure, connect
from gateway.serving import running
from tests.support.gateway import REPO, RunningGateway


async def test_lists_namespaced_tools_with_schemas(echo_gateway: RunningGateway) -> None:
    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
    assert {"echo.echo", "echo.add", "echo.sleep"} <= set(tools)
    assert tools["echo.add"].input_schema["required"] == ["a", "b"]
    assert tools["echo.echo"].annotations is not None and tools["echo.echo"].annotations.read_only_hint


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_allowed_call_reaches_backend_in_both_protocol_eras(echo_gateway: RunningGateway, echo_upstream, mode):
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    _, upstream = echo_upstream
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {echo_gateway.token()}"})
    async with http, Client(streamable_http_client(echo_gateway.mcp_url, http_client=http), mode=mode, cache=None) as c:
        result = await c.call_tool("echo.add", {"a": 2, "b": 3})
    assert not result.is_error
    assert result.content[0].text == "5"
    assert result.structured_content == {"sum": 5}
    assert upstream.state.calls[-1]["tool"] == "add"
    # Lineage: the backend saw a W3C traceparent the gateway created.
    assert upstream.state.calls[-1]["traceparent"].startswith("00-")


async def test_agent_traceparent_is_kept_and_passed_on(echo_gateway: RunningGateway, echo_upstream) -> None:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    _, upstream = echo_upstream
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {"Authorization": f"Bearer {echo_gateway.token()}", "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
    http = httpx2.AsyncClient(headers=headers)
    async with http, Client(streamable_http_client(echo_gateway.mcp_url, http_client=http), cache=None) as c:
        await c.call_tool("echo.echo", {"text": "hi"})
    assert upstream.state.calls[-1]["traceparent"].split("-")[1] == trace_id
    received = [r for r in read_records(echo_gateway.config.audit.database) if r.kind == "call.received"]
    assert received[-1].data["trace_id"] == trace_id


async def test_denied_call_never_reaches_backend(echo_gateway: RunningGateway, echo_upstream) -> None:
    _, upstream = echo_upstream
    async with connect(echo_gateway.mcp_url, echo_gateway.token("stranger", roles=())) as client:
        result = await client.call_tool("echo.echo", {"text": "should not pass"})
        listed = (await client.list_tools()).tools
    assert result.is_error
    assert result.content[0].text == "no rule allows 'stranger' to call echo.echo: denied by default"
    assert upstream.state.calls == []
    # tools/list shows an agent only what it could be allowed.
    assert [t.name for t in listed if t.name.startswith("echo.")] == []


async def test_unknown_tool_is_a_protocol_error(echo_gateway: RunningGateway) -> None:
    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        with pytest.raises(MCPError) as raised:
            await client.call_tool("echo.nope", {})
    assert raised.value.error.code == -32602
    assert "no tool 'nope'" in raised.value.error.message


async def test_invalid_arguments_name_the_field(echo_gateway: RunningGateway, echo_upstream) -> None:
    _, upstream = echo_upstream
    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        result = await client.call_tool("echo.add", {"a": "two", "b": 3})
    assert result.is_error
    assert result.content[0].text == "invalid argument a: 'two' is not of type 'number'"
    assert upstream.state.calls == []


async def test_every_call_leaves_chained_audit_records(echo_gateway: RunningGateway) -> None:
    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        await client.call_tool("echo.echo", {"text": "audited"})
    async with connect(echo_gateway.mcp_url, echo_gateway.token("stranger", roles=())) as client:
        await client.call_tool("echo.echo", {"text": "denied"})
    records = list(read_records(echo_gateway.config.audit.database))
    by_call: dict[str, list[str]] = {}
    for r in records:
        if r.call_id:
            by_call.setdefault(r.call_id, []).append(r.kind)
    assert sorted(by_call.values()) == sorted(
        [
            ["call.received", "call.decided", "call.forwarded", "call.completed"],
            ["call.received", "call.decided"],
        ]
    )
    for previous, record in itertools.pairwise(records):
        assert record.prev_hash == previous.hash
    assert verify(iter_log(Path(echo_gateway.config.audit.database)), None).ok


async def test_metrics_move(echo_gateway: RunningGateway) -> None:
    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        await client.call_tool("echo.add", {"a": 1, "b": 1})
    text = await echo_gateway.scrape()
    assert 'gateway_tool_calls_total{connector="echo",decision="allow",outcome="ok",tool="add"} 1.0' in text
    assert 'gateway_tool_call_duration_seconds_count{connector="echo"} 1.0' in text
    assert 'gateway_stage_duration_seconds_count{stage="policy"}' in text


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({}, "missing bearer token"),
        ({"Authorization": "Basic abc"}, "malformed Authorization header"),
        ({"Authorization": "Bearer not-a-jwt"}, "not a well-formed JWT"),
    ],
)
async def test_requests_without_a_valid_token_get_401(echo_gateway: RunningGateway, headers, reason) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.post(
            echo_gateway.mcp_url,
            json={"jsonrpc": "2.0", "id": 1, "method": "tools/list"},
            headers={"Accept": "application/json, text/event-stream", **headers},
        )
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith('Bearer realm="agent-gateway"')
    assert reason in response.json()["detail"]
    failures = [r for r in read_records(echo_gateway.config.audit.database) if r.kind == "auth.failed"]
    assert reason in failures[-1].data["reason"]


async def test_expired_and_forged_tokens_are_rejected(echo_gateway: RunningGateway) -> None:
    import jwt

    expired = echo_gateway.token(ttl_seconds=-120)
    claims = jwt.decode(echo_gateway.token(), options={"verify_signature": False})
    forged = jwt.encode(claims, "another-secret-that-is-long-enough-0123456789", algorithm="HS256")
    wrong_audience = jwt.encode({**claims, "aud": "someone-else"}, "x" * 40, algorithm="HS256")
    for token, reason in [(expired, "expired"), (forged, "signature is invalid"), (wrong_audience, "signature")]:
        with pytest.raises(ClientFailure) as raised:
            async with connect(echo_gateway.mcp_url, token) as client:
                await client.list_tools()
        assert "401" in str(raised.value) and reason in str(raised.value)


async def test_malformed_json_rpc_gets_a_json_rpc_error(echo_gateway: RunningGateway) -> None:
    headers = {
        "Authorization": f"Bearer {echo_gateway.token()}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    async with httpx.AsyncClient() as http:
        broken = await http.post(
            echo_gateway.mcp_url, content=b'{"jsonrpc": "2.0", "id": 1, "method": ', headers=headers
        )
        wrong = await http.post(echo_gateway.mcp_url, json={"jsonrpc": "2.0", "id": 1, "method": 42}, headers=headers)
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == -32700
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] in (-32600, -32602)


async def test_oversized_body_is_refused(echo_gateway: RunningGateway) -> None:
    headers = {
        "Authorization": f"Bearer {echo_gateway.token()}",
        "Accept": "application/json, text/event-stream",
        "Content-Type": "application/json",
    }
    payload = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "echo.echo", "arguments": {"text": "x" * 2_000_000}},
    }
    async with httpx.AsyncClient() as http:
        response = await http.post(echo_gateway.mcp_url, content=json.dumps(payload), headers=headers)
    assert response.status_code == 413


async def test_hung_backend_times_out_with_a_clear_error(echo_upstream, start_gateway) -> None:
    url, _ = echo_upstream
    config = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 0.5}}
    async with start_gateway(config) as gw, connect(gw.mcp_url, gw.token()) as client:
        started = time.monotonic()
        result = await client.call_tool("echo.sleep", {"seconds": 30})
        assert time.monotonic() - started < 5
        assert result.is_error
        assert result.content[0].text == "backend 'echo' did not answer within 0.5 s"
        # The gateway is not wedged: the next call goes through.
        assert (await client.call_tool("echo.add", {"a": 1, "b": 2})).content[0].text == "3"


async def test_gateway_starts_while_upstream_is_down_and_connects_later(start_gateway) -> None:
    probe = echo_stub.create_app()
    async with running(probe) as url:
        port = urlsplit(url).port
    # Nothing listens on `port` now.
    async with start_gateway({"echo": {"kind": "mcp", "url": f"{url}/mcp", "timeout_seconds": 5}}) as gw:
        token = gw.token()
        async with connect(gw.mcp_url, token) as client:
            down = await client.call_tool("echo.add", {"a": 1, "b": 1})
        # Not "unknown tool": while the backend cannot list its tools nobody can say that.
        assert down.is_error
        assert down.content[0].text.startswith("backend 'echo' is unavailable, so its tools cannot be called now")
        upstream = echo_stub.create_app()
        async with running(upstream, port=port):
            result = await _retry_until_ok(gw.mcp_url, token, "echo.add", {"a": 1, "b": 1})
        assert result.content[0].text == "2"


async def _retry_until_ok(url: str, token: str, tool: str, arguments: dict) -> object:
    """Calls until the gateway has reconnected (bounded: 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        async with connect(url, token) as client:
            try:
                result = await client.call_tool(tool, arguments)
            except MCPError:
                result = None
        if (result is not None and not result.is_error) or time.monotonic() > deadline:
            assert result is not None and not result.is_error, result
            return result
        await asyncio.sleep(0.2)


async def test_upstream_restart_is_survived(start_gateway) -> None:
    first = echo_stub.create_app()
    async with running(first) as url:
        port = urlsplit(url).port
        config = {"echo": {"kind": "mcp", "url": f"{url}/mcp", "timeout_seconds": 5}}
        gw_context = start_gateway(config)
        gw = await gw_context.__aenter__()
    try:
        token = gw.token()
        async with connect(gw.mcp_url, token) as client:
            down = await client.call_tool("echo.add", {"a": 1, "b": 1})
        assert down.is_error
        assert "backend 'echo'" in down.content[0].text
        second = echo_stub.create_app()
        async with running(second, port=port):
            result = await _retry_until_ok(gw.mcp_url, token, "echo.add", {"a": 2, "b": 2})
            assert result.content[0].text == "4"
            assert second.state.calls[-1]["tool"] == "add"
    finally:
        await gw_context.__aexit__(None, None, None)


async def test_health_and_readiness(echo_gateway: RunningGateway) -> None:
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{echo_gateway.url}/healthz")).text == "ok"
        ready = await http.get(f"{echo_gateway.url}/readyz")
        admin = {"Authorization": f"Bearer {echo_gateway.token('ops', ('gateway-admin',))}"}
        detailed = await http.get(f"{echo_gateway.url}/readyz", headers=admin)
    assert ready.status_code == 200
    assert set(ready.json()) == {"ready", "checked_at"} and ready.json()["ready"] is True
    body = detailed.json()
    assert body["ready"] is True and body["audit"] is True
    assert body["backends"]["echo"]["healthy"] is True


async def test_cli_mints_a_token_and_calls_a_tool(echo_gateway: RunningGateway) -> None:
    config_file = echo_gateway.config.base_dir / "cli.yaml"
    secret = echo_gateway.config.identity.secret
    assert secret is not None
    (config_file.parent / "identity.secret").write_text(secret.get_secret_value() + "\n")
    config_file.write_text(
        f"identity: {{secret: '${{file:identity.secret}}'}}\npolicy: {{directory: {REPO / 'policies'}}}\n"
    )
    gateway_cli = [sys.executable, "-m", "gateway.cli"]
    minted = await _run(*gateway_cli, "token", "--config", str(config_file), "--sub", "cli-agent", "--roles", "tester")
    assert minted.returncode == 0, minted.stderr
    token = minted.stdout.strip()
    called = await _run(
        *gateway_cli,
        "call",
        "echo.add",
        "--args",
        '{"a": 20, "b": 22}',
        "--url",
        echo_gateway.mcp_url,
        "--token",
        token,
    )
    assert called.returncode == 0, called.stderr
    assert called.stdout.strip() == "42"
    listed = await _run(*gateway_cli, "tools", "--url", echo_gateway.mcp_url, "--token", token)
    assert "echo.add" in listed.stdout
    bad = await _run(
        *gateway_cli, "call", "echo.add", "--args", "{oops", "--url", echo_gateway.mcp_url, "--token", token
    )
    assert bad.returncode == 2 and "not valid JSON" in bad.stderr
    refused = await _run(*gateway_cli, "tools", "--url", echo_gateway.mcp_url, "--token", "garbage")
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr


class _Completed:
    def __init__(self, returncode: int, stdout: str, stderr: str) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


async def _run(*argv: str) -> _Completed:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=str(REPO)
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    return _Completed(process.returncode or 0, out.decode(), err.decode())


async def test_missing_field_and_unencodable_numbers_are_refused_precisely(echo_gateway: RunningGateway, echo_upstream):
    _, upstream = echo_upstream
    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        missing = await client.call_tool("echo.add", {"b": 3})
        huge = await client.call_tool("echo.add", {"a": 2**60 + 1, "b": 1})
    assert missing.is_error and missing.content[0].text == "invalid argument a: 'a' is a required property"
    assert huge.is_error and huge.content[0].text.startswith("invalid arguments: ")
    assert "IEEE 754 double" in huge.content[0].text
    assert upstream.state.calls == []
    rejected = [r for r in read_records(echo_gateway.config.audit.database) if r.kind == "call.rejected"]
    assert [r.data["stage"] for r in rejected] == ["validate", "validate"]
