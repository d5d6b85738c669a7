"""A small HTTP/1.1 client for one origin: pooled keep-alive connections, and each request
written to the socket in one piece.

Why not httpx: on this project's machines a system call that wakes another process is
dear, and an httpx POST makes several (headers and body sent apart, every pooled
connection polled for liveness on each request): measured, 0.8 ms of CPU per POST
against 0.1 ms here (bench/cost.py). It serves the one request the gateway makes most,
an MCP `tools/call`; everything else keeps the SDK's httpx client. It knows
Content-Length and chunked bodies, TLS (the context httpx would use) and no proxies:
`direct_route` says whether a URL may be reached without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import urllib.request
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from connectors.tls import client_context, tls_failure
from gateway.errors import GatewayError

#: Longest status line or header line, and most header lines, accepted from the upstream.
_MAX_LINE = 16 * 1024
_MAX_HEADERS = 200
#: Idle connections kept per origin.
_MAX_IDLE = 64
_STREAM_LIMIT = 1024 * 1024


class ProtocolFailure(GatewayError):
    """The connection broke or the peer did not speak HTTP/1.1; nothing usable arrived."""


def direct_route(url: str) -> bool:
    """True when the environment names no proxy for `url` (this client reaches hosts directly)."""
    host = urlsplit(url).hostname or ""
    proxies = urllib.request.getproxies()
    scheme = urlsplit(url).scheme
    return not (proxies.get(scheme) or proxies.get("all")) or bool(urllib.request.proxy_bypass(host))


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    #: Served a response already: a failure before the next response's first byte may just
    #: be the server having closed it while idle.
    reused: bool = False

    def close(self) -> None:
        self.writer.close()


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    _connection: _Connection
    _remaining: int | None = None
    _chunked: bool = False
    _done: bool = False
    _keep: bool = field(default=True)

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()

    async def read(self, limit: int) -> bytes:
        """The whole body; ProtocolFailure past `limit` bytes."""
        parts: list[bytes] = []
        size = 0
        async for part in self.chunks():
            size += len(part)
            if size > limit:
                raise ProtocolFailure(f"response body over {limit} bytes")
            parts.append(part)
        return b"".join(parts)

    async def chunks(self) -> AsyncIterator[bytes]:
        reader = self._connection.reader
        try:
            if self._chunked:
                while (size := await _chunk_size(reader)) > 0:
                    yield await reader.readexactly(size)
                    await _expect_crlf(reader)
                while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                    pass
            elif self._remaining is not None:
                while self._remaining > 0:
                    part = await reader.read(min(self._remaining, _STREAM_LIMIT))
                    if not part:
                        raise ProtocolFailure("connection closed inside the response body")
                    self._remaining -= len(part)
                    yield part
            else:
                self._keep = False
                while part := await reader.read(_STREAM_LIMIT):
                    yield part
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError) as exc:
            raise ProtocolFailure(f"broken response body ({type(exc).__name__})") from None
        self._done = True

    async def lines(self) -> AsyncIterator[bytes]:
        """The body line by line (line endings stripped), for an event stream."""
        pending = b""
        async for part in self.chunks():
            pending += part
            *complete, pending = pending.split(b"\n")
            for line in complete:
                yield line.rstrip(b"\r")
        if pending:
            yield pending.rstrip(b"\r")


async def _chunk_size(reader: asyncio.StreamReader) -> int:
    line = await reader.readuntil(b"\r\n")
    return int(line.split(b";", 1)[0].strip() or b"x", 16)


async def _expect_crlf(reader: asyncio.StreamReader) -> None:
    if await reader.readexactly(2) != b"\r\n":
        raise ProtocolFailure("malformed chunked body")


class Origin:
    """Connections to one scheme://host:port; requests name a path on it."""

    def __init__(self, url: str, *, connect_timeout: float, tls: ssl.SSLContext | None = None) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else 80)
        default_port = self.port == (443 if parts.scheme == "https" else 80)
        host = f"[{self.host}]" if ":" in self.host else self.host
        self.authority = host if default_port else f"{host}:{self.port}"
        self.path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        #: The connector's context (CA, client certificate, pins: connectors.tls), else the system's.
        self._tls = (tls or client_context()) if parts.scheme == "https" else None
        self._connect_timeout = connect_timeout
        self._idle: list[_Connection] = []

    async def _connection(self) -> _Connection:
        while self._idle:
            connection = self._idle.pop()
            if not connection.reader.at_eof() and not connection.writer.is_closing():
                return connection
            connection.close()
        try:
            async with asyncio.timeout(self._connect_timeout):
                reader, writer = await asyncio.open_connection(self.host, self.port, ssl=self._tls, limit=_STREAM_LIMIT)
        except (OSError, TimeoutError) as exc:
            why = tls_failure(exc, self._tls) or f"{type(exc).__name__}: {exc}"
            raise ProtocolFailure(f"cannot connect to {self.authority} ({why})") from None
        return _Connection(reader, writer)

    def _release(self, connection: _Connection, response: Response | None) -> None:
        if response is not None and response._done and response._keep and len(self._idle) < _MAX_IDLE:
            connection.reused = True
            self._idle.append(connection)
        else:
            connection.close()

    @contextlib.asynccontextmanager
    async def post(self, headers: Mapping[str, str], body: bytes, method: str = "POST") -> AsyncIterator[Response]:
        """POST (or `method`) `body` to the origin's path. The connection goes back to the pool only when
        the response was read to its end; leaving early closes it (which is also how a
        Streamable HTTP client cancels a request on the 2026-07-28 protocol)."""
        head = [f"{method} {self.path} HTTP/1.1", f"host: {self.authority}", f"content-length: {len(body)}"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if any("\r" in line or "\n" in line for line in head):
            raise ProtocolFailure("a request header holds a line break")  # no header may smuggle another
        request = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        connection = await self._connection()
        try:
            response = await self._exchange(connection, request)
        except ProtocolFailure:
            connection.close()
            if not connection.reused:
                raise
            # The server closed the idle connection before reading the request: it was not
            # processed, so it goes once more on a new connection.
            connection = await self._connection()
            try:
                response = await self._exchange(connection, request)
            except BaseException:
                connection.close()
                raise
        except BaseException:
            connection.close()
            raise
        try:
            yield response
        finally:
            self._release(connection, response)

    async def _exchange(self, connection: _Connection, request: bytes) -> Response:
        try:
            connection.writer.write(request)
            status, headers = await _read_head(connection.reader)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            raise ProtocolFailure(f"no response from {self.authority} ({type(exc).__name__})") from None
        response = Response(status, headers, connection)
        response._keep = headers.get("connection", "").lower() != "close"
        if "chunked" in headers.get("transfer-encoding", "").lower():
            response._chunked = True
        elif "content-length" in headers:
            response._remaining = int(headers["content-length"])
        elif status in (204, 304):
            response._remaining = 0
        if response._remaining == 0:
            response._done = True
        return response

    def close(self) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    line = await reader.readuntil(b"\r\n")
    version, _, rest = line.decode("latin-1").partition(" ")
    if not version.startswith("HTTP/1."):
        raise ProtocolFailure(f"not an HTTP/1.1 response: {line[:40]!r}")
    status = int(rest[:3])
    headers: dict[str, str] = {}
    for _ in range(_MAX_HEADERS):
        line = await reader.readuntil(b"\r\n")
        if line == b"\r\n":
            if 100 <= status < 200:  # an interim response: the real one follows
                return await _read_head(reader)
            return status, headers
        if len(line) > _MAX_LINE:
            raise ProtocolFailure("response header line too long")
        name, _, value = line.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    raise ProtocolFailure("too many response header lines")
