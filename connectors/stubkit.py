"""What every stub backend shares: a request log tests can assert on, switchable faults
(hang, fail) for resilience tests, an in-process server for fixtures, and the command line.

A test starts a stub like this::

    app = connectors.sap.stub.create_app(username="demo", password="secret")
    async with serve_app(app) as base_url:   # uvicorn on an ephemeral loopback port
        ...                                   # app.state.requests: what the stub received
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(slots=True)
class StubFaults:
    """Switches a test flips to make the backend misbehave."""

    #: Requests wait until this is cleared (or the server stops): a hung backend.
    hang: bool = False
    #: Answer every request with this HTTP status and an empty body.
    fail_status: int | None = None
    _released: asyncio.Event = field(default_factory=asyncio.Event)

    def release(self) -> None:
        self.hang = False
        self._released.set()


class RecordRequests:
    """ASGI middleware: appends every HTTP request to `requests`, then applies `faults`."""

    def __init__(self, app: ASGIApp, requests: list[RecordedRequest], faults: StubFaults) -> None:
        self.app = app
        self.requests = requests
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        self.requests.append(
            RecordedRequest(
                method=scope["method"],
                path=scope["path"],
                query=scope["query_string"].decode("latin-1"),
                headers={k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]},
                body=body,
            )
        )
        if self.faults.hang:
            self.faults._released.clear()
            await self.faults._released.wait()
        if self.faults.fail_status is not None:
            await send({"type": "http.response.start", "status": self.faults.fail_status, "headers": []})
            await send({"type": "http.response.body", "body": b""})
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)


def loopback_socket(port: int = 0, host: str = "127.0.0.1") -> socket.socket:
    """A bound listening socket; SO_REUSEADDR lets a test restart a backend on the same port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)
    sock.setblocking(False)
    return sock


@contextlib.asynccontextmanager
async def serve_app(app: ASGIApp, *, port: int = 0, host: str = "127.0.0.1") -> AsyncIterator[str]:
    """Run `app` with uvicorn on a loopback port (ephemeral by default) for the duration of
    the block; yields the base URL `http://127.0.0.1:PORT`."""
    sock = loopback_socket(port, host)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="auto"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        for _ in range(500):
            if server.started or task.done():
                break
            await asyncio.sleep(0.01)
        if not server.started:
            if task.done():
                task.result()  # re-raises why uvicorn could not start
            raise RuntimeError("stub server did not start within 5 s")
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        faults = getattr(getattr(app, "state", None), "faults", None)
        if isinstance(faults, StubFaults):
            faults.release()
        server.should_exit = True
        await task
        sock.close()


def stub_arguments(description: str, default_port: int) -> argparse.ArgumentParser:
    """The command line every stub shares: `--host` and `--port`; a stub adds its own flags."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    return parser


def stub_app(routes: list[BaseRoute]) -> Starlette:
    """A Starlette app whose `state.requests` logs what it received and whose `state.faults`
    a test can flip."""
    requests: list[RecordedRequest] = []
    faults = StubFaults()
    app = Starlette(routes=routes, middleware=[Middleware(RecordRequests, requests=requests, faults=faults)])
    app.state.requests = requests
    app.state.faults = faults
    return app


def run_stub(app: ASGIApp, host: str, port: int) -> None:
    uvicorn.run(app, host=host, port=port, log_level="info")
