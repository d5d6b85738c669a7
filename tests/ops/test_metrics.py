"""The gateway's /metrics: checked by promtool, scraped by a real Prometheus, and each
metric family the docs promise moves when its event happens."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from gateway.audit.checkpoint import generate_key, private_pem
from gateway.mcp.client import ClientFailure, connect
from gateway.metrics import STAGES
from gateway.serving import free_port
from tests.support.gateway import METRICS_TOKEN, RunningGateway
from tests.support.ops import prometheus, query, require_binary, run_tool, sample


async def _metrics(gw: RunningGateway) -> str:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{gw.url}/metrics", headers=gw.scrape_headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return response.text


async def _echo_calls(gw: RunningGateway, n: int) -> None:
    async with connect(gw.mcp_url, gw.token()) as client:
        for i in range(n):
            result = await client.call_tool("echo.echo", {"text": f"call {i}"})
            assert not result.is_error


async def test_metrics_pass_promtool_check_and_count_each_kind_of_call(echo_gateway: RunningGateway) -> None:
    promtool = require_binary("promtool")
    await _echo_calls(echo_gateway, 2)
    async with connect(echo_gateway.mcp_url, echo_gateway.token("stranger", roles=())) as client:
        assert (await client.call_tool("echo.echo", {"text": "denied"})).is_error
    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        assert (await client.call_tool("echo.add", {"a": "two", "b": 3})).is_error
    with pytest.raises(ClientFailure, match="401"):
        async with connect(echo_gateway.mcp_url, "not-a-jwt") as client:
            await client.list_tools()

    text = await _metrics(echo_gateway)
    code, out = await run_tool(promtool, "check", "metrics", stdin=text.encode())
    # promtool prints lint problems (naming, units, counters without _total) and exits 1.
    assert (code, out.strip()) == (0, "")

    calls = "gateway_tool_calls_total"
    assert sample(text, calls, connector="echo", tool="echo", decision="allow", outcome="ok") == 2
    assert sample(text, calls, connector="echo", tool="echo", decision="deny", outcome="denied") == 1
    assert sample(text, calls, connector="echo", tool="add", decision="none", outcome="invalid_arguments") == 1
    rejected = "gateway_rejected_requests_total"
    assert sample(text, rejected, reason="denied") == 1
    assert sample(text, rejected, reason="invalid_arguments") == 1
    assert sample(text, rejected, reason="unauthenticated") >= 1
    assert sample(text, rejected, reason="rate_limited") == 0
    # Identity is timed for every request through the gate, good tokens and bad.
    assert sample(text, "gateway_stage_duration_seconds_count", stage="identity") >= 5
    assert sample(text, "gateway_stage_duration_seconds_count", stage="backend") == 2
    for stage in STAGES:
        assert sample(text, "gateway_stage_duration_seconds_count", stage=stage) is not None, stage
    # Every call's records and the start record went through the audit writer.
    appended = sample(text, "gateway_audit_appends_total", result="ok")
    # The two refused tokens (one source, reason and path) make one record now; the second
    # is summed into the window's summary, written when the window ends.
    assert appended is not None and appended >= 1 + 4 * 2 + 2 * 3 - 1
    assert sample(text, "gateway_audit_chain_size_records") == appended
    assert sample(text, "gateway_audit_appends_total", result="error") == 0
    assert sample(text, "gateway_audit_commit_duration_seconds_count") >= 1
    version = echo_gateway.gateway.policy.current.version
    assert sample(text, "gateway_policy_info", version=version) == 1
    assert sample(text, "gateway_approvals_pending") == 0
    assert sample(text, "gateway_approval_decision_seconds_count") == 0
    assert sample(text, "gateway_approval_outcomes_total", outcome="expired") == 0
    assert sample(text, "gateway_build_info", version="0.1.0") == 1


async def test_policy_reload_failure_is_counted_and_flagged(echo_gateway: RunningGateway) -> None:
    gateway = echo_gateway.gateway
    (gateway.policy.directory / "policy.csv").write_text("p, this is not a rule\n")
    result = await gateway.reload_policy("test")
    assert not result.ok
    text = await _metrics(echo_gateway)
    assert sample(text, "gateway_policy_reloads_total", result="failure") == 1
    assert sample(text, "gateway_policy_last_reload_successful") == 0
    # The version in force is still the one that was loaded at start.
    assert sample(text, "gateway_policy_info", version=result.active_version) == 1


async def test_open_circuit_shows_in_backend_circuit_state(start_gateway, tmp_path: Path) -> None:
    # A SAP backend nobody listens on: the first failed read opens the circuit (threshold 1).
    port = free_port()
    sap = {
        "kind": "sap",
        "url": f"http://127.0.0.1:{port}/sap/opu/odata/sap/API",
        "auth": {"kind": "basic", "username": "demo", "password": "unused"},
        "timeout_seconds": 2,
        "retries": 0,
        "circuit_failure_threshold": 1,
        "circuit_reset_seconds": 600,
    }
    async with start_gateway({"sap": sap}) as gw:
        before = await _metrics(gw)
        assert sample(before, "gateway_backend_circuit_state", connector="sap", state="closed") == 1
        async with connect(gw.mcp_url, gw.token("reader", roles=("agent-readonly",))) as client:
            result = await client.call_tool("sap.search_vendors", {"name_contains": "x"})
        assert result.is_error
        after = await _metrics(gw)
    assert sample(after, "gateway_backend_circuit_state", connector="sap", state="open") == 1
    assert sample(after, "gateway_backend_circuit_state", connector="sap", state="closed") == 0
    assert sample(after, "gateway_tool_calls_total", connector="sap", tool="search_vendors",
                  decision="allow", outcome="backend_error") == 1  # fmt: skip


async def test_signed_checkpoint_size_is_exposed(echo_upstream, start_gateway, tmp_path: Path) -> None:
    key = tmp_path / "audit-key.pem"
    key.write_bytes(private_pem(generate_key()))
    url, _ = echo_upstream
    audit = {"signing_key_file": str(key), "checkpoint_every_records": 3, "checkpoint_every_seconds": 3600}
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, audit=audit) as gw:
        await _echo_calls(gw, 1)
        text = await _metrics(gw)
    size = sample(text, "gateway_audit_last_checkpoint_size_records")
    assert size is not None and size >= 3
    assert size <= sample(text, "gateway_audit_chain_size_records")
    assert sample(text, "gateway_audit_last_checkpoint_timestamp_seconds") > 0


async def test_a_real_prometheus_scrapes_the_gateway(echo_gateway: RunningGateway, tmp_path: Path) -> None:
    target = echo_gateway.url.removeprefix("http://")
    async with prometheus(tmp_path, target, token=METRICS_TOKEN) as prom:
        await _echo_calls(echo_gateway, 3)
        promql = 'sum(gateway_tool_calls_total{connector="echo",tool="echo",outcome="ok"})'
        value = None
        for _ in range(100):
            found = await query(prom, promql)
            value = float(found[0]["value"][1]) if found else None
            if value == 3:
                break
            await asyncio.sleep(0.1)
        assert value == 3, f"Prometheus read {value} for {promql}"
        up = await query(prom, 'up{job="gateway"}')
        assert [float(r["value"][1]) for r in up] == [1.0]
