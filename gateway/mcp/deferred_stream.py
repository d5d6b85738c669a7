"""How the MCP front door answers a stateless (2026-07-28) request that asked for no
notifications: through the SDK's JSON-response mode, switching to an event stream only if
the answer is slow.

In its event-stream mode the SDK runs every stateless request as two extra tasks (the
handler and a disconnect watcher) around a memory stream, and commits to
`text/event-stream` only when the handler emits a notification or stays silent for the
keep-alive interval; a quick answer is plain JSON either way. A request that carries
neither a `progressToken` nor the log-level `_meta` key can receive no notification (the
2026-07-28 rules), so for it the two modes differ only when the answer is slow or the
agent hangs up. This wrapper gives the JSON mode exactly those two behaviours, without
the per-request tasks (an eighth of the gateway's CPU per call, bench/cost.py):

- past the keep-alive interval without an answer it commits the response to
  `text/event-stream` itself, pings as the SDK does, and sends the answer as the stream's
  one `message` event when it comes;
- a connection lost before the answer cancels the request (the HTTP protocol calls what the
  request left under `CANCEL_ON_DISCONNECT`, `gateway.guards.connections`), as the SDK's
  watcher would.

Everything else (handshake-era requests with sessions, streams, requests that asked for
progress or logs, bodies over the size limit) goes to the SDK's event-stream mode unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from mcp_types.version import HANDSHAKE_PROTOCOL_VERSIONS
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.guards.connections import CANCEL_ON_DISCONNECT

#: Seconds without an answer before the response becomes an event stream, and between its
#: pings: the SDK's own interval, so that proxies see the same traffic from either mode.
KEEP_ALIVE_SECONDS = 15.0
#: Bytes that, anywhere in a body, may mean its answer carries notifications: a progress
#: token, the log-level `_meta` key, `subscriptions/listen` (whose answer is a stream of
#: them), or a JSON escape that could spell any of these. Such a body goes the SDK's way.
_ASKS_FOR_NOTIFICATIONS = (b"progressToken", b"io.modelcontextprotocol/logLevel", b"subscriptions/listen", b"\\u")
_HANDSHAKE_VERSIONS = frozenset(v.encode() for v in HANDSHAKE_PROTOCOL_VERSIONS)
_SSE_HEADERS = [
    (b"content-type", b"text/event-stream"),
    (b"cache-control", b"no-cache, no-transform"),
    (b"connection", b"keep-alive"),
    (b"x-accel-buffering", b"no"),
]
_PING = b": ping\r\n\r\n"


def _stateless_post(scope: Scope) -> bool:
    """A POST the SDK serves statelessly (its protocol version header names no handshake
    version) from a client that accepts an event stream, which a slow answer becomes."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return False
    version = accept = None
    for name, value in scope["headers"]:
        if name == b"mcp-protocol-version" and version is None:  # the first, as the SDK routes by
            version = value
        elif name == b"accept":
            accept = value if accept is None else accept + b"," + value
    return version is not None and version not in _HANDSHAKE_VERSIONS and b"text/event-stream" in (accept or b"")


@dataclass
class DeferredStream:
    """ASGI app in front of the SDK's two modes: `streaming` (event-stream mode, the
    default) and `json` (JSON-response mode, for stateless requests that asked for no
    notifications, upgraded here when slow)."""

    streaming: ASGIApp
    json: ASGIApp
    max_body_bytes: int

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not _stateless_post(scope):
            await self.streaming(scope, receive, send)
            return
        body, complete = await self._read_body(receive)
        replay = _replaying(body, complete, receive)
        oversized = len(body) > self.max_body_bytes  # the SDK refuses it (413)
        if not complete or oversized or any(marker in body for marker in _ASKS_FOR_NOTIFICATIONS):
            await self.streaming(scope, replay, send)
            return
        await _Answer(send, KEEP_ALIVE_SECONDS).serve(self.json, scope, replay)

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        """The body, and whether it is all there: reading stops past the size limit or at a
        disconnect (the SDK sees either too, from the rest of the messages)."""
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return b"".join(chunks), False
            chunk = message.get("body", b"")
            chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks), True
            if size > self.max_body_bytes:
                return b"".join(chunks), False


def _replaying(body: bytes, complete: bool, receive: Receive) -> Receive:
    """`receive` for the SDK: the body read so far, then the rest from the connection."""
    pending: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return replay


class _Answer:
    """One stateless request's response: the SDK's JSON answer as it is, or, once the
    keep-alive interval passed without it, an event stream of pings ending in the answer."""

    def __init__(self, send: Send, keep_alive_seconds: float) -> None:
        self._send = send
        self._keep_alive = keep_alive_seconds
        #: Set once either side began the response: the SDK (JSON) or the pings (a stream).
        self._started = False
        self._pinging: asyncio.Task[None] | None = None
        #: The stream's own sends (start, pings, the answer), one at a time.
        self._stream_lock = asyncio.Lock()
        self._stream_open = False
        self._answer: list[bytes] = []
        self._hung_up = False

    async def serve(self, app: ASGIApp, scope: Scope, receive: Receive) -> None:
        task = asyncio.current_task()
        assert task is not None, "an ASGI request runs in a task"

        def hang_up() -> None:
            self._hung_up = True
            task.cancel()

        scope[CANCEL_ON_DISCONNECT] = hang_up
        timer = asyncio.get_running_loop().call_later(self._keep_alive, self._go_streaming)
        try:
            await app(scope, receive, self._forward)
        except asyncio.CancelledError:
            if not self._hung_up:
                raise
            task.uncancel()  # nobody is left to answer: the request ends here, quietly
        finally:
            del scope[CANCEL_ON_DISCONNECT]  # first: no cancel may arrive after this request
            timer.cancel()
            if self._pinging is not None:
                self._pinging.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._pinging

    def _go_streaming(self) -> None:
        if not self._started:
            self._started = True
            self._pinging = asyncio.create_task(self._ping(), name="mcp-keep-alive")

    async def _ping(self) -> None:
        while True:
            async with self._stream_lock:
                await self._open_stream()
                await self._send({"type": "http.response.body", "body": _PING, "more_body": True})
            await asyncio.sleep(self._keep_alive)

    async def _open_stream(self) -> None:
        if not self._stream_open:
            self._stream_open = True
            await self._send({"type": "http.response.start", "status": 200, "headers": _SSE_HEADERS})

    async def _forward(self, message: Message) -> None:
        pinging = self._pinging
        if pinging is None:
            if message["type"] == "http.response.start":
                self._started = True
            await self._send(message)
            return
        # Streaming already: the SDK's JSON answer becomes the stream's one message event
        # (its HTTP status is for a JSON response, which this no longer is).
        if message["type"] != "http.response.body":
            return
        self._answer.append(message.get("body", b""))
        if message.get("more_body", False):
            return
        async with self._stream_lock:
            # The pinger is asleep or waiting for the lock: it stops before sending again.
            pinging.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pinging
            self._pinging = None
            await self._open_stream()
            event = b"event: message\r\ndata: " + b"".join(self._answer) + b"\r\n\r\n"
            await self._send({"type": "http.response.body", "body": event, "more_body": False})
