"""OpenTelemetry traces: one MCP tool call reaches a real OTLP/HTTP receiver as one span
per stage in the agent's trace; with tracing off no SDK object exists."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.propagate import extract
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.config import TracingSettings
from gateway.metrics import Metrics
from gateway.serving import running
from gateway.telemetry import Telemetry

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
AGENT_SPAN = "00f067aa0ba902b7"
STAGES = {"identity", "validate", "rate_limit", "policy", "backend", "audit"}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture
async def collector() -> AsyncIterator[tuple[str, list[dict[str, str]]]]:
    """An OTLP/HTTP receiver: every exported span as {name, trace_id, span_id, parent}."""
    spans: list[dict[str, str]] = []

    async def receive(request: Request) -> Response:
        export = ExportTraceServiceRequest.FromString(await request.body())
        for resource in export.resource_spans:
            for scope in resource.scope_spans:
                spans.extend(
                    {
                        "name": s.name,
                        "trace_id": s.trace_id.hex(),
                        "span_id": s.span_id.hex(),
                        "parent": s.parent_span_id.hex(),
                    }
                    for s in scope.spans
                )
        body = ExportTraceServiceResponse().SerializeToString()
        return Response(body, media_type="application/x-protobuf")

    async with running(Starlette(routes=[Route("/v1/traces", receive, methods=["POST"])])) as url:
        yield url, spans


async def test_one_tool_call_exports_a_span_per_stage_in_the_agents_trace(
    echo_upstream, start_gateway, collector
) -> None:
    upstream, upstream_app = echo_upstream
    endpoint, spans = collector
    connectors = {"echo": {"kind": "mcp", "url": upstream, "timeout_seconds": 5}}
    async with start_gateway(connectors, tracing={"otlp_endpoint": endpoint, "service_name": "gw-test"}) as gw:
        traceparent = f"00-{TRACE_ID}-{AGENT_SPAN}-01"
        headers = {"Authorization": f"Bearer {gw.token()}", "traceparent": traceparent}
        # The agent is traced too (it shares this process's provider): its SDK client also
        # puts the trace context in the request's _meta, which the MCP server span follows.
        agent = otel_context.attach(extract({"traceparent": traceparent}))
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(gw.mcp_url, http_client=http), cache=None) as client,
        ):
            result = await client.call_tool("echo.echo", {"text": "hi"})
        otel_context.detach(agent)
        assert not result.is_error, result.content[0].text
    # Stopping the gateway flushed the batch to the receiver.
    traced = [s for s in spans if s["trace_id"] == TRACE_ID]
    by_name: dict[str, list[dict[str, str]]] = {}
    for span in traced:
        by_name.setdefault(span["name"], []).append(span)
    assert by_name.keys() >= STAGES, sorted(by_name)
    [call_span] = by_name["tools/call echo.echo"]
    for stage in STAGES - {"identity"}:
        # Every pipeline stage hangs under the MCP SDK's span of this call.
        assert all(s["parent"] == call_span["span_id"] for s in by_name[stage]), stage
    # The call's span descends from the agent's span.
    assert _ancestors(traced, call_span["span_id"])[-1] == AGENT_SPAN
    # The backend's parent is the exported backend span.
    [backend] = by_name["backend"]
    [reached] = upstream_app.state.calls
    assert reached["traceparent"] == f"00-{TRACE_ID}-{backend['span_id']}-01"


async def test_tracing_off_creates_no_provider_and_no_spans() -> None:
    metrics = Metrics()
    telemetry = Telemetry(TracingSettings(), metrics)
    telemetry.start()
    with telemetry.stage("policy") as stage:
        assert trace.get_current_span() is trace.INVALID_SPAN
    assert telemetry.provider is None and telemetry.tracer is None
    assert stage.seconds > 0
    assert metrics.registry.get_sample_value("gateway_stage_duration_seconds_sum", {"stage": "policy"}) == stage.seconds
    await telemetry.stop()


def _ancestors(spans: list[dict[str, str]], span_id: str) -> list[str]:
    parents = {s["span_id"]: s["parent"] for s in spans}
    chain = [span_id]
    while chain[-1] in parents and len(chain) < 10:
        chain.append(parents[chain[-1]])
    return chain


async def _call_mcp_without_sdk(gw, headers: dict[str, str]) -> None:
    """An agent with no OpenTelemetry: plain JSON-RPC, the trace context only in the header."""
    headers = {**headers, "Accept": "application/json, text/event-stream"}
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        opened = await http.post(gw.mcp_url, json=INITIALIZE)
        assert opened.status_code == 200, opened.text
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        await http.post(gw.mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "echo.echo", "arguments": {"text": "hi"}},
        }
        answered = await http.post(gw.mcp_url, json=call, headers=session)
        assert '"isError":false' in answered.text.replace(" ", ""), answered.text


async def _call_rest(gw, headers: dict[str, str]) -> None:
    async with httpx2.AsyncClient(headers=headers, timeout=30) as http:
        answered = await http.post(f"{gw.url}/v1/tools/echo.echo:call", json={"text": "hi"})
        assert answered.status_code == 200, answered.text


@pytest.mark.parametrize("call", [_call_mcp_without_sdk, _call_rest], ids=["mcp", "rest"])
async def test_an_agent_sending_only_the_traceparent_header_gets_its_trace(
    echo_upstream, start_gateway, collector, call
) -> None:
    upstream, _ = echo_upstream
    endpoint, spans = collector
    connectors = {"echo": {"kind": "mcp", "url": upstream, "timeout_seconds": 5}}
    async with start_gateway(connectors, tracing={"otlp_endpoint": endpoint}) as gw:
        headers = {"Authorization": f"Bearer {gw.token()}", "traceparent": f"00-{TRACE_ID}-{AGENT_SPAN}-01"}
        await call(gw, headers)
    traced = [s for s in spans if s["trace_id"] == TRACE_ID]
    stages = {s["name"]: s for s in traced if s["name"] in STAGES}
    assert stages.keys() == STAGES, sorted(s["name"] for s in traced)
    for stage in stages.values():
        assert _ancestors(traced, stage["span_id"])[-1] == AGENT_SPAN, stage
