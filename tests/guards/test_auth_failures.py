"""A flood of refused tokens: one source is answered 429 past its burst without any audit
work, the rest are summed into a few `auth.failed` records with counts and times, and
agents with valid tokens keep being served meanwhile."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from gateway.audit import read_records
from gateway.config import ConfigError
from gateway.mcp.client import connect
from tests.support.gateway import GatewayFactory, gateway_config

MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Authorization": "Bearer not-a-jwt"}
LIST = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}


async def test_a_flood_from_one_source_is_throttled_and_summed(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    guards = {"auth_failures": {"per_source_rate": 1, "per_source_burst": 10}}
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, guards=guards) as gw:
        async with httpx.AsyncClient() as http:

            async def flood() -> list[httpx.Response]:
                return [await http.post(gw.mcp_url, json=LIST, headers=MCP_HEADERS) for _ in range(300)]

            async def agent() -> int:
                served = 0
                async with connect(gw.mcp_url, gw.token()) as client:
                    for _ in range(20):
                        result = await client.call_tool("echo.echo", {"text": "still here"})
                        served += not result.is_error
                return served

            responses, served = await asyncio.gather(flood(), agent())
            metrics = await gw.scrape()
        database = gw.config.audit.database
        during = [r for r in read_records(database) if r.kind == "auth.failed"]
    after = [r for r in read_records(database) if r.kind == "auth.failed"]

    assert served == 20
    refused = [r for r in responses if r.status_code == 401]
    throttled = [r for r in responses if r.status_code == 429]
    assert len(refused) + len(throttled) == 300
    assert 10 <= len(refused) < 20 and throttled
    assert int(throttled[0].headers["Retry-After"]) >= 1
    assert "too many failed authentications" in throttled[0].json()["detail"]
    # One record at once, one summary when the window closes (here: at shutdown).
    assert len(during) == 1 and during[0].data["count"] == 1
    summary = after[-1]
    assert len(after) == 2 and summary.data["count"] == len(refused) - 1
    assert summary.data["client"] == "127.0.0.1" and summary.data["first"] <= summary.data["last"]
    assert f'gateway_auth_failures_total{{outcome="throttled"}} {float(len(throttled))}' in metrics


async def test_each_window_closes_with_one_summary_per_source_reason_and_path(
    echo_upstream: tuple[str, Starlette], start_gateway: GatewayFactory
) -> None:
    url, _ = echo_upstream
    guards = {"auth_failures": {"window_seconds": 0.3}}
    async with (
        start_gateway({"echo": {"kind": "mcp", "url": url}}, guards=guards) as gw,
        httpx.AsyncClient(base_url=gw.url, headers={"Authorization": "Bearer x"}) as http,
    ):
        for _ in range(4):
            await http.get("/v1/tools")
        await http.get("/openapi.json")
        await asyncio.sleep(0.8)
        records = [r for r in read_records(gw.config.audit.database) if r.kind == "auth.failed"]
    by_path = {(r.data["path"], r.data["count"]) for r in records}
    assert by_path == {("/v1/tools", 1), ("/v1/tools", 3), ("/openapi.json", 1)}


@pytest.mark.parametrize(
    ("section", "named"),
    [
        ({"auth_failures": {"window_seconds": 0}}, "guards.auth_failures.window_seconds"),
        ({"sessions": {"per_principal": 0}}, "guards.sessions.per_principal"),
        ({"nonsense": 1}, "guards.nonsense"),
    ],
)
def test_a_bad_guards_key_is_named(tmp_path: Path, policy_dir: Path, section: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        gateway_config(tmp_path, policy_dir, {}, guards=section)
