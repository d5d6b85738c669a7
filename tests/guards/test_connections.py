"""What one connection may take: slow clients are cut off: headers sent a byte at a time (slowloris), a body that never
finishes, and an oversized header block; a well-behaved client is served meanwhile."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from gateway.app import create_app
from gateway.guards.settings import GuardSettings
from gateway.identity import TokenVerifier
from gateway.serving import running
from tests.support.gateway import gateway_config

GUARDS = GuardSettings(header_timeout_seconds=0.5, body_timeout_seconds=0.5, max_header_bytes=4096)


@pytest.fixture
async def gateway_url(tmp_path: Path, policy_dir: Path) -> AsyncIterator[str]:
    config = gateway_config(tmp_path, policy_dir, {})
    async with running(create_app(config), guards=GUARDS) as url:
        yield url


def token(tmp_path: Path, policy_dir: Path) -> str:
    config = gateway_config(tmp_path, policy_dir, {})
    return TokenVerifier(config.identity, config.base_dir).mint("agent-1", ("tester",))


async def connect(url: str) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    parts = urlsplit(url)
    return await asyncio.open_connection(parts.hostname, parts.port)


async def closed_after(reader: asyncio.StreamReader, trickle: asyncio.Task[None]) -> float:
    started = time.monotonic()
    try:
        data = await asyncio.wait_for(reader.read(), timeout=5)
    finally:
        trickle.cancel()
    assert data == b""
    return time.monotonic() - started


async def test_headers_sent_a_byte_at_a_time_are_cut_off(gateway_url: str) -> None:
    reader, writer = await connect(gateway_url)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n")

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.1)
            writer.write(b"X")

    task = asyncio.create_task(trickle())
    async with httpx.AsyncClient() as http:
        assert (await http.get(f"{gateway_url}/healthz")).status_code == 200
    assert await closed_after(reader, task) < 2
    writer.close()


async def test_a_body_that_never_finishes_is_cut_off(gateway_url: str, tmp_path: Path, policy_dir: Path) -> None:
    reader, writer = await connect(gateway_url)
    head = (
        "POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 1000\r\nContent-Type: application/json\r\n"
        f"Accept: application/json, text/event-stream\r\nAuthorization: Bearer {token(tmp_path, policy_dir)}\r\n\r\n{{"
    )
    writer.write(head.encode())

    async def trickle() -> None:
        while True:
            await asyncio.sleep(0.1)
            writer.write(b" ")

    assert await closed_after(reader, asyncio.create_task(trickle())) < 2
    writer.close()


async def test_an_idle_connection_without_a_request_is_closed(gateway_url: str) -> None:
    reader, writer = await connect(gateway_url)
    assert await closed_after(reader, asyncio.create_task(asyncio.sleep(0))) < 2
    writer.close()


async def test_an_oversized_header_block_is_refused(gateway_url: str) -> None:
    async with httpx.AsyncClient() as http:
        response = await http.get(f"{gateway_url}/healthz", headers={"X-Big": "a" * 8000})
    assert response.status_code == 431
    assert "over 4096 bytes" in response.text
