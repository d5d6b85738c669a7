"""What one HTTP connection may take: time and header bytes.

Slow clients are cut off: uvicorn's HTTP/1.1 protocol with two deadlines more. A
connection must deliver a request's headers within `header_timeout_seconds` of opening
(or of its previous response), and the request's body within `body_timeout_seconds` of its
headers; past either, the connection is closed. uvicorn alone waits for ever for headers
sent a byte at a time (slowloris), since each byte resets its keep-alive timer. h11 bounds
only a header block still arriving, so `HeaderLimit` checks a complete one too."""

from __future__ import annotations

import asyncio

import h11
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.protocols.http.h11_impl import H11Protocol

from gateway.guards.settings import GuardSettings

#: Scope key under which a request may leave how to cancel it if its connection is lost
#: before the response completed (uvicorn only tells a request that reads its `receive`).
CANCEL_ON_DISCONNECT = "gateway.cancel_on_disconnect"


class SlowClientGuard(H11Protocol):
    header_seconds = 10.0
    body_seconds = 30.0
    #: Connections closed for being slow, since start (read by tests and the soak bench).
    cut_off = 0

    _deadline: asyncio.TimerHandle | None = None
    _requests = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm(self.header_seconds)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:
            self._requests += 1
            self._arm(self.body_seconds)

    def on_response_complete(self) -> None:
        super().on_response_complete()
        # The next request's headers (or the rest of a body the app did not read) are due.
        self._arm(self.header_seconds)

    def connection_lost(self, exc: Exception | None) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        if self.cycle is not None and not self.cycle.response_complete:
            cancel = self.cycle.scope.get(CANCEL_ON_DISCONNECT)
            if callable(cancel):
                cancel()
        super().connection_lost(exc)

    def _arm(self, seconds: float) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
        self._deadline = self.loop.call_later(seconds, self._expire, self._requests)

    def _expire(self, request: int) -> None:
        # Still on the same request and still waiting for the client's headers or body.
        waiting = self.conn.their_state in (h11.IDLE, h11.SEND_BODY)
        if request == self._requests and waiting and not self.transport.is_closing():
            type(self).cut_off += 1
            self.transport.close()


def protocol_for(guards: GuardSettings) -> type[SlowClientGuard]:
    """The protocol class for uvicorn's `http=`, with these deadlines."""
    return type(
        "ConfiguredSlowClientGuard",
        (SlowClientGuard,),
        {"header_seconds": guards.header_timeout_seconds, "body_seconds": guards.body_timeout_seconds},
    )


class HeaderLimit:
    """ASGI wrapper: a request whose header block is over `max_bytes` gets 431."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and sum(len(k) + len(v) + 4 for k, v in scope["headers"]) > self.max_bytes:
            message = f"request headers over {self.max_bytes} bytes"
            await PlainTextResponse(message, status_code=431, headers={"Connection": "close"})(scope, receive, send)
            return
        await self.app(scope, receive, send)
