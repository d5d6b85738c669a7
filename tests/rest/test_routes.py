"""The REST front door on real servers: listing, calls through the same pipeline as MCP,
RFC 9457 errors for every way a request can be wrong, and Idempotency-Key replays."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from gateway.audit import read_records
from tests.support.gateway import GatewayFactory, RunningGateway

PROBLEM = "application/problem+json"


def client(gw: RunningGateway, token: str | None = None, **kw) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {token if token is not None else gw.token()}"}
    return httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=10, **kw)


def assert_problem(response: httpx.Response, status: int, kind: str, *detail_parts: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:agent-gateway:problem:{kind}"
    assert body["status"] == status
    for part in detail_parts:
        assert part in body["detail"], body["detail"]
    return body


async def test_lists_only_the_tools_the_caller_may_use(echo_gateway: RunningGateway) -> None:
    async with client(echo_gateway) as http:
        tools = {t["name"]: t for t in (await http.get("/v1/tools")).json()["tools"]}
    assert set(tools) == {"echo.echo", "echo.add", "echo.sleep"}
    assert tools["echo.add"]["input_schema"]["required"] == ["a", "b"]
    assert tools["echo.add"]["call_path"] == "/v1/tools/echo.add:call"
    async with client(echo_gateway, echo_gateway.token("nobody", ("agent-readonly",))) as http:
        assert (await http.get("/v1/tools")).json() == {"tools": []}


async def test_call_runs_the_governed_pipeline(echo_gateway: RunningGateway, echo_upstream) -> None:
    _, upstream = echo_upstream
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    async with client(echo_gateway) as http:
        response = await http.post(
            "/v1/tools/echo.add:call",
            json={"a": 2, "b": 3},
            headers={"traceparent": f"00-{trace_id}-00f067aa0ba902b7-01", "User-Agent": "rest-test/1"},
        )
        metrics = await echo_gateway.scrape()
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["content"] == [{"type": "text", "text": "5"}]
    assert body["structured_content"] == {"sum": 5}
    assert body["is_error"] is False
    assert response.headers["X-Call-Id"] == body["call_id"]
    assert upstream.state.calls[-1]["traceparent"].split("-")[1] == trace_id
    records = [r for r in read_records(echo_gateway.config.audit.database) if r.call_id == body["call_id"]]
    assert [r.kind for r in records] == ["call.received", "call.decided", "call.forwarded", "call.completed"]
    assert records[0].data["front_door"] == "rest"
    assert records[0].data["client"] == "rest-test/1"
    assert 'gateway_tool_calls_total{connector="echo",decision="allow",outcome="ok",tool="add"} 1.0' in metrics


async def test_refusals_are_problems_with_precise_details(echo_gateway: RunningGateway, echo_upstream) -> None:
    _, upstream = echo_upstream
    async with client(echo_gateway) as http:
        body = assert_problem(
            await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": "two"}),
            422,
            "invalid_arguments",
            "invalid argument b: 'two' is not of type 'number'",
        )
        assert body["call_id"]
        assert_problem(await http.post("/v1/tools/echo.nope:call", json={}), 404, "unknown_tool", "'nope'")
        assert_problem(await http.post("/v1/tools/nodots:call", json={}), 404, "unknown_tool", "connector.tool")
    async with client(echo_gateway, echo_gateway.token("reader", ("agent-readonly",))) as http:
        assert_problem(await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": 2}), 403, "denied", "reader")
    assert upstream.state.calls == []


@pytest.mark.parametrize(
    ("content", "content_type", "status", "kind", "detail"),
    [
        (b'{"a": 1,', "application/json", 400, "malformed_json", "line 1 column 9"),
        (b"\xff\xfe", "application/json", 400, "malformed_json", "not UTF-8"),
        (b'{"a": NaN, "b": 1}', "application/json", 400, "malformed_json", "NaN"),
        (b'{"a": 9007199254740993, "b": 1}', "application/json", 400, "malformed_json", "9007199254740993"),
        (b"[" * 100_000, "application/json", 400, "malformed_json", "nested too deeply"),
        (b"a=1&b=2", "application/x-www-form-urlencoded", 415, "unsupported_media_type", "x-www-form-urlencoded"),
        (b'{"a": 1, "b": 2}', None, 415, "unsupported_media_type", "no Content-Type"),
        (b"[1, 2]", "application/json", 422, "invalid_arguments", "got an array"),
        (b'"x"', "application/vnd.agent+json", 422, "invalid_arguments", "got a string"),
    ],
)
async def test_bad_bodies_get_precise_4xx(echo_gateway, content, content_type, status, kind, detail) -> None:
    headers = {"Content-Type": content_type} if content_type else {}
    async with client(echo_gateway) as http:
        response = await http.post("/v1/tools/echo.add:call", content=content, headers=headers)
    assert_problem(response, status, kind, detail)


async def test_empty_body_is_no_arguments(echo_gateway: RunningGateway) -> None:
    async with client(echo_gateway) as http:
        response = await http.post("/v1/tools/echo.add:call")
    assert_problem(response, 422, "invalid_arguments", "'a' is a required property")


async def test_oversized_body_is_413_declared_or_streamed(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, upstream = echo_upstream
    connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
    async with start_gateway(connectors, server={"max_body_bytes": 2048}) as gw, client(gw) as http:
        declared = await http.post("/v1/tools/echo.echo:call", json={"text": "x" * 5000})
        assert_problem(declared, 413, "body_too_large", "5011 bytes", "2048")

        async def chunks():
            for _ in range(5):
                yield b" " * 1000

        streamed = await http.post(
            "/v1/tools/echo.echo:call", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert_problem(streamed, 413, "body_too_large", "2048")
        fits = await http.post("/v1/tools/echo.echo:call", json={"text": "x" * 1000})
        assert fits.status_code == 200
    assert len(upstream.state.calls) == 1


async def test_bad_token_is_a_401_problem_and_audited(echo_gateway: RunningGateway) -> None:
    async with client(echo_gateway, "not-a-jwt") as http:
        for response in (await http.get("/v1/tools"), await http.post("/v1/tools/echo.add:call", json={})):
            assert_problem(response, 401, "unauthenticated", "JWT")
            assert response.headers["WWW-Authenticate"].startswith('Bearer realm="agent-gateway"')
    async with httpx.AsyncClient(base_url=echo_gateway.url) as http:
        assert_problem(await http.get("/openapi.json"), 401, "unauthenticated")
    failures = [r for r in read_records(echo_gateway.config.audit.database) if r.kind == "auth.failed"]
    assert {r.data["path"] for r in failures} == {"/v1/tools", "/v1/tools/echo.add:call", "/openapi.json"}


async def test_approve_decision_holds_the_call_and_answers_pending(
    echo_upstream, start_gateway: GatewayFactory, policy_dir: Path
) -> None:
    url, upstream = echo_upstream
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\n# Large sums need a supervisor.\np, tester, *, echo.add, approve, r.args.a > 100, 1 supervisor 1h\n")
    async with (
        start_gateway(
            {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}, approvals={"max_hold_seconds": 0.2}
        ) as gw,
        client(gw) as http,
    ):
        response = await http.post("/v1/tools/echo.add:call", json={"a": 1000, "b": 1})
    assert_problem(response, 202, "approval_pending", "awaiting approval 0 of 1 (id apr_")
    assert upstream.state.calls == []


async def test_backend_timeout_is_504(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, _ = echo_upstream
    async with (
        start_gateway({"echo": {"kind": "mcp", "url": url, "timeout_seconds": 0.2}}) as gw,
        client(gw) as http,
    ):
        response = await http.post("/v1/tools/echo.sleep:call", json={"seconds": 2})
    assert_problem(response, 504, "backend_timeout", "0.2 s")


async def test_idempotency_key_replays_the_first_answer(echo_gateway: RunningGateway, echo_upstream) -> None:
    _, upstream = echo_upstream
    key = {"Idempotency-Key": "order-42"}
    async with client(echo_gateway) as http:
        first = await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": 2}, headers=key)
        again = await http.post("/v1/tools/echo.add:call", json={"b": 2, "a": 1}, headers=key)
        other_body = await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": 3}, headers=key)
        other_tool = await http.post("/v1/tools/echo.echo:call", json={"text": "x"}, headers=key)
    async with client(echo_gateway, echo_gateway.token("agent-2")) as http:
        other_caller = await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": 2}, headers=key)
    assert first.status_code == again.status_code == 200
    replay = again.json()
    assert replay.pop("replayed") is True and replay.pop("replay_of") == first.json()["call_id"]
    assert replay.pop("call_id") == again.headers["X-Call-Id"] != first.json()["call_id"]
    assert replay == {k: v for k, v in first.json().items() if k != "call_id"}
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["X-Replay-Of"] == first.json()["call_id"]
    assert "Idempotent-Replayed" not in first.headers
    assert_problem(other_body, 422, "idempotency_key_reused", "order-42")
    assert_problem(other_tool, 422, "idempotency_key_reused")
    # Keys belong to the caller: another agent's same key is its own request.
    assert other_caller.status_code == 200 and other_caller.json()["call_id"] != first.json()["call_id"]
    assert [c["tool"] for c in upstream.state.calls] == ["add", "add"]


async def test_idempotency_key_in_flight_is_409_and_refusals_are_not_kept(echo_gateway, echo_upstream) -> None:
    _, upstream = echo_upstream
    async with client(echo_gateway) as http:
        slow = asyncio.create_task(
            http.post("/v1/tools/echo.sleep:call", json={"seconds": 0.5}, headers={"Idempotency-Key": "slow"})
        )
        for _ in range(100):  # until the first request is inside the pipeline
            if upstream.state.calls:
                break
            await asyncio.sleep(0.01)
        busy = await http.post("/v1/tools/echo.sleep:call", json={"seconds": 0.5}, headers={"Idempotency-Key": "slow"})
        assert (await slow).status_code == 200
        bad = {"Idempotency-Key": "fix-me"}
        assert (await http.post("/v1/tools/echo.add:call", json={"a": 1}, headers=bad)).status_code == 422
        assert (await http.post("/v1/tools/echo.add:call", json={"a": 1}, headers=bad)).status_code == 422
        invalid_key = await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": 1}, headers={"Idempotency-Key": ""})
    body = assert_problem(busy, 409, "idempotency_key_in_use")
    assert "still running" in body["detail"] and busy.headers["Retry-After"] == "1"
    assert_problem(invalid_key, 400, "invalid_idempotency_key", "1 to 255")
    assert [c["tool"] for c in upstream.state.calls] == ["sleep"]


async def test_openapi_document_is_per_caller(echo_gateway: RunningGateway) -> None:
    async with client(echo_gateway) as http:
        doc = (await http.get("/openapi.json")).json()
    async with client(echo_gateway, echo_gateway.token("reader", ("agent-readonly",))) as http:
        narrow = (await http.get("/openapi.json")).json()
    assert doc["openapi"].startswith("3.1")
    assert doc["servers"] == [{"url": echo_gateway.url}]
    operation = doc["paths"]["/v1/tools/echo.add:call"]["post"]
    assert operation["operationId"] == "echo__add"
    assert operation["requestBody"]["content"]["application/json"]["schema"]["required"] == ["a", "b"]
    assert set(narrow["paths"]) == {"/v1/tools", "/v1/calls/{approval_id}"}


async def test_rate_limited_call_is_429_with_retry_after(echo_upstream, start_gateway: GatewayFactory) -> None:
    url, upstream = echo_upstream
    limits = {"rules": [{"per": "agent", "rate_per_second": 0.1, "burst": 1}]}
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, limits=limits) as gw, client(gw) as http:
        first = await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": 2})
        second = await http.post("/v1/tools/echo.add:call", json={"a": 1, "b": 2})
    assert first.status_code == 200
    assert_problem(second, 429, "rate_limited", "retry after")
    assert second.headers["Retry-After"] == "10"
    assert len(upstream.state.calls) == 1
