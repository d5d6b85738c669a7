"""A sink that accepts connections and never answers: tool calls through the real gateway
go on as usual, their records wait, and /metrics shows the lag (how much it costs, if
anything, is measured by bench/bench_audit_sinks.py, not timed here)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.gateway import GatewayFactory
from tests.support.ops import sample


@pytest.fixture
async def hung_port() -> AsyncIterator[int]:
    connections: list[asyncio.StreamWriter] = []

    async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while await reader.read(65536):
            pass

    server = await asyncio.start_server(swallow, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in connections:
            writer.close()
        server.close()


async def test_calls_go_on_while_the_sink_hangs(
    echo_upstream: tuple[str, object], start_gateway: GatewayFactory, hung_port: int, tmp_path: Path
) -> None:
    url, _ = echo_upstream
    streaming = {
        "state_directory": str(tmp_path / "cursors"),
        "sinks": [{"kind": "splunk_hec", "name": "hung", "url": f"http://127.0.0.1:{hung_port}", "token": "t"}],
    }
    connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
    async with start_gateway(connectors, audit_streaming=streaming) as gw:
        headers = {"Authorization": f"Bearer {gw.token()}"}
        async with httpx.AsyncClient(base_url=gw.url, headers=headers, timeout=10) as http:
            answers = [await http.post("/v1/tools/echo.add:call", json={"a": i, "b": 1}) for i in range(20)]
            # The shipper notes the oldest waiting record once it has read a batch: on a busy
            # machine that can come after the calls, so look until it has (bounded).
            for _ in range(50):
                exposition = await gw.scrape()
                if (sample(exposition, "gateway_audit_sink_lag_seconds", sink="hung") or 0) > 0:
                    break
                await asyncio.sleep(0.1)
    assert [a.status_code for a in answers] == [200] * 20
    assert [a.json()["content"][0]["text"] for a in answers] == [str(i + 1) for i in range(20)]
    assert (sample(exposition, "gateway_audit_sink_lag_records", sink="hung") or 0) >= 20 * 4
    assert (sample(exposition, "gateway_audit_sink_lag_seconds", sink="hung") or 0) > 0
    assert sample(exposition, "gateway_audit_sink_shipped_records_total", sink="hung") == 0
