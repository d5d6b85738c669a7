"""Attack (#11 finding 8): arguments nested 500 deep made the redaction raise
RecursionError, so the agent got a 500 and the audit log lost the call. Shape limits
(depth, keys, size) are checked before anything walks the arguments: a precise 400 or
JSON-RPC error, and the refusal is recorded."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from gateway.audit import read_records
from gateway.mcp.client import connect
from tests.support.gateway import RunningGateway
from tests.support.raw_mcp import raw_mcp_request


def _nested(depth: int) -> Any:
    value: Any = "bottom"
    for _ in range(depth):
        value = [value]
    return value


def _rejections(gw: RunningGateway) -> list[str]:
    return [r.data["reason"] for r in read_records(gw.config.audit.database) if r.kind == "call.rejected"]


async def _post(gw: RunningGateway, body: str, **headers: str) -> httpx.Response:
    async with httpx.AsyncClient(headers={"Authorization": f"Bearer {gw.token()}", **headers}) as http:
        return await http.post(
            f"{gw.url}/v1/tools/echo.echo:call", content=body, headers={"content-type": "application/json"}
        )


@pytest.mark.parametrize("key", [None, "deep-1"], ids=["plain", "idempotency-key"])
async def test_500_deep_array_over_rest_is_a_400_and_recorded(echo_gateway: RunningGateway, key: str | None) -> None:
    body = json.dumps({"text": "hi", "extra": _nested(500)})
    answered = await _post(echo_gateway, body, **({"Idempotency-Key": key} if key else {}))
    assert answered.status_code == 400, answered.text
    assert "nested deeper than 32 levels (arguments.max_depth)" in answered.json()["detail"]
    assert _rejections(echo_gateway) == [answered.json()["detail"]]


async def test_500_deep_array_over_mcp_is_a_json_rpc_error(echo_gateway: RunningGateway) -> None:
    # The SDK's client will not even serialize this; an attacker writes the JSON by hand.
    call = {
        "jsonrpc": "2.0",
        "id": 2,
        "method": "tools/call",
        "params": {"name": "echo.echo", "arguments": {"text": "hi", "extra": _nested(500)}},
    }
    status, answer = await raw_mcp_request(echo_gateway.mcp_url, echo_gateway.token(), json.dumps(call))
    # The SDK's JSON parser stops at its own recursion limit (about 200) before the
    # gateway sees the call: a parse error, never a 500. Shallower nesting meets the
    # gateway's limit (next test).
    assert status == 400, answer
    assert answer["error"]["code"] == -32700 and "recursion limit" in answer["error"]["message"], answer


async def test_deep_arguments_through_the_sdk_get_invalid_params(echo_gateway: RunningGateway) -> None:
    from mcp import MCPError

    async with connect(echo_gateway.mcp_url, echo_gateway.token()) as client:
        with pytest.raises(MCPError) as refused:
            await client.call_tool("echo.echo", {"text": "hi", "extra": _nested(40)})
        fine = await client.call_tool("echo.echo", {"text": "hi", "extra": _nested(20)})
    assert refused.value.error.code == -32602
    assert "nested deeper than 32 levels" in refused.value.error.message
    # Within the limits, the call gets as far as the tool's schema (which has no `extra`).
    assert fine.is_error and "'extra' was unexpected" in fine.content[0].text
    assert _rejections(echo_gateway)[0] == refused.value.error.message


async def test_limits_are_configurable(echo_upstream, start_gateway) -> None:
    url, _ = echo_upstream
    connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
    async with start_gateway(connectors, arguments={"max_depth": 3, "max_keys": 50, "max_bytes": 2048}) as gw:
        too_deep = await _post(gw, json.dumps({"text": "hi", "extra": _nested(3)}))
        too_many = await _post(gw, json.dumps({"text": "hi", "extra": {f"k{i}": i for i in range(60)}}))
        too_big = await _post(gw, json.dumps({"text": "x" * 3000}))
        fine = await _post(gw, json.dumps({"text": "hi", "extra": _nested(2)}))
    assert too_deep.status_code == too_many.status_code == too_big.status_code == 400
    assert "nested deeper than 3 levels" in too_deep.json()["detail"]
    assert "more than 50 keys (arguments.max_keys)" in too_many.json()["detail"]
    assert "larger than 2048 characters" in too_big.json()["detail"]
    assert fine.status_code == 422 and "'extra' was unexpected" in fine.json()["detail"], fine.text
