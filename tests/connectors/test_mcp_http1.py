"""The small HTTP/1.1 client behind MCP tool calls, against raw TCP servers on loopback
that answer exactly the bytes each test needs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from connectors.mcp.http1 import Origin, ProtocolFailure, direct_route

#: Reads one request (head and Content-Length body) from a connection; returns its head.
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, list[bytes]], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    return head + await reader.readexactly(length)


@contextlib.asynccontextmanager
async def tcp_server(handler: Handler) -> AsyncIterator[tuple[str, list[bytes], list[int]]]:
    """(url, requests seen, connections accepted so far as a one-item counter)."""
    requests: list[bytes] = []
    accepted = [0]

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted[0] += 1
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            await handler(reader, writer, requests)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/mcp?x=1", requests, accepted
    finally:
        server.close()


def reply(body: bytes, *, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %d\r\n%s\r\n%s" % (
        len(body),
        extra,
        body,
    )


async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
    while True:
        seen.append(await read_request(reader))
        writer.write(reply(b'{"n": %d}' % len(seen)))


async def test_one_connection_serves_requests_in_turn_and_each_request_is_one_piece() -> None:
    async with tcp_server(keep_alive) as (url, seen, accepted):
        origin = Origin(url, connect_timeout=5)
        for n in (1, 2, 3):
            async with origin.post({"x-test": "yes"}, b'{"a": 1}') as response:
                assert response.status == 200
                assert response.content_type == "application/json"
                assert await response.read(1000) == b'{"n": %d}' % n
        origin.close()
    assert accepted == [1]
    first = seen[0].split(b"\r\n")
    assert first[0] == b"POST /mcp?x=1 HTTP/1.1"
    assert b"x-test: yes" in first and seen[0].endswith(b'\r\n\r\n{"a": 1}')


async def test_a_chunked_body_is_read_and_split_into_lines() -> None:
    async def chunked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        for part in (b"event: message\r\ndata: {", b'"a"', b": 1}\r\n\r\n"):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
        writer.write(b"0\r\n\r\n")
        await read_request(reader)  # the connection was kept for the next request
        writer.write(reply(b"{}"))

    async with tcp_server(chunked) as (url, _, accepted):
        origin = Origin(url, connect_timeout=5)
        async with origin.post({}, b"") as response:
            assert [line async for line in response.lines()] == [b"event: message", b'data: {"a": 1}', b""]
        async with origin.post({}, b"") as response:
            assert await response.read(10) == b"{}"
    assert accepted == [1]


async def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_request_sent_once() -> None:
    async def once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        seen.append(await read_request(reader))
        writer.write(reply(b"{}"))
        await writer.drain()
        # Closing after one answer while the client keeps the connection: its next request
        # must go on a new one (and reach the server once).

    async with tcp_server(once) as (url, seen, accepted):
        origin = Origin(url, connect_timeout=5)
        for _ in range(3):
            async with origin.post({}, b"x") as response:
                await response.read(10)
            await asyncio.sleep(0.05)
    assert accepted == [3] and len(seen) == 3


async def test_leaving_a_response_early_closes_its_connection() -> None:
    async with tcp_server(keep_alive) as (url, _, accepted):
        origin = Origin(url, connect_timeout=5)
        async with origin.post({}, b""):
            pass  # body not read: the connection cannot serve another request
        async with origin.post({}, b"") as response:
            await response.read(100)
    assert accepted == [2]


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP/1.1 response"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc", "connection closed inside the response body"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "broken response body"),
    ],
)
async def test_what_is_not_http_is_a_protocol_failure(answer: bytes, message: str) -> None:
    async def bad(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, seen: list[bytes]) -> None:
        await read_request(reader)
        writer.write(answer)
        await writer.drain()

    async with tcp_server(bad) as (url, _, _):
        with pytest.raises(ProtocolFailure, match=message):
            async with Origin(url, connect_timeout=5).post({}, b"") as response:
                await response.read(100)


async def test_a_body_over_the_limit_is_refused() -> None:
    async with tcp_server(keep_alive) as (url, _, _):
        with pytest.raises(ProtocolFailure, match="over 3 bytes"):
            async with Origin(url, connect_timeout=5).post({}, b"") as response:
                await response.read(3)


async def test_a_header_with_a_line_break_is_refused_before_anything_is_sent() -> None:
    async with tcp_server(keep_alive) as (url, seen, accepted):
        for value in ("x\r\nx-injected: 1", "x\ny", "x\ry"):
            with pytest.raises(ProtocolFailure, match="line break"):
                async with Origin(url, connect_timeout=5).post({"traceparent": value}, b""):
                    pass
    assert seen == [] and accepted == [0]


async def test_nothing_listening_is_a_protocol_failure() -> None:
    async with tcp_server(keep_alive) as (url, _, _):
        pass
    with pytest.raises(ProtocolFailure, match="cannot connect"):
        async with Origin(url, connect_timeout=5).post({}, b""):
            pass


def test_a_proxy_in_the_environment_turns_the_direct_route_off(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    assert direct_route("http://upstream.example/mcp")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    assert not direct_route("http://upstream.example/mcp")
    monkeypatch.setenv("NO_PROXY", "upstream.example")
    assert direct_route("http://upstream.example/mcp")
