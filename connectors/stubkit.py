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
import base64
import binascii
import contextlib
import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import uvicorn
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.serving import ServerTls, running


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


def basic_auth_matches(authorization: str, user: str, password: str) -> bool:
    """Whether an `Authorization` header value carries exactly these basic credentials."""
    scheme, _, encoded = authorization.partition(" ")
    try:
        given_user, _, given_password = base64.b64decode(encoded, validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return False
    # Both comparisons always run: the time taken says nothing about which part was wrong.
    user_ok = secrets.compare_digest(given_user.encode(), user.encode())
    password_ok = secrets.compare_digest(given_password.encode(), password.encode())
    return scheme.lower() == "basic" and user_ok and password_ok


@contextlib.asynccontextmanager
async def serve_app(
    app: ASGIApp, *, port: int = 0, host: str = "127.0.0.1", tls: ServerTls | None = None
) -> AsyncIterator[str]:
    """Run `app` with uvicorn on a loopback port (ephemeral by default) for the duration of
    the block; yields the base URL `http://127.0.0.1:PORT` (`https://` with `tls`). A stopped
    backend can be started again on the same port (uvicorn binds with SO_REUSEADDR)."""
    async with running(app, host, port, tls=tls) as url:
        try:
            yield url
        finally:
            # Requests held by a hang fault would otherwise stall the shutdown.
            faults = getattr(getattr(app, "state", None), "faults", None)
            if isinstance(faults, StubFaults):
                faults.release()


_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


def loopback_address(url: object) -> tuple[str, int] | None:
    """(host, port) of a URL that points at this machine with an explicit port, else None."""
    if not isinstance(url, str):
        return None
    parts = urlsplit(url)
    if parts.hostname not in _LOOPBACK or parts.port is None:
        return None
    return parts.hostname, parts.port


@contextlib.asynccontextmanager
async def serve_if_local(url: object, make_app: Callable[[], ASGIApp]) -> AsyncIterator[str | None]:
    """The stub from `make_app` at `url` when that is on this machine (yields its base URL),
    otherwise nothing is started (yields None): the backend is a real one elsewhere."""
    address = loopback_address(url)
    if address is None:
        yield None
        return
    async with serve_app(make_app(), host=address[0], port=address[1]) as base_url:
        yield base_url


def stub_arguments(description: str, default_port: int) -> argparse.ArgumentParser:
    """The command line every stub shares: `--host`, `--port` and the TLS files; a stub adds
    its own flags."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port)
    parser.add_argument("--tls-cert", type=Path, help="serve TLS with this PEM certificate (needs --tls-key)")
    parser.add_argument("--tls-key", type=Path, help="the certificate's PEM private key")
    parser.add_argument("--tls-client-ca", type=Path, help="require client certificates signed by this CA (mTLS)")
    return parser


def server_tls(args: argparse.Namespace) -> ServerTls | None:
    """The TLS a stub's command line asked for; None for plain TCP."""
    if args.tls_cert is None and args.tls_key is None:
        if args.tls_client_ca is not None:
            raise SystemExit("--tls-client-ca needs --tls-cert and --tls-key")
        return None
    if args.tls_cert is None or args.tls_key is None:
        raise SystemExit("--tls-cert and --tls-key go together")
    return ServerTls(args.tls_cert, args.tls_key, args.tls_client_ca)


def stub_app(routes: list[BaseRoute]) -> Starlette:
    """A Starlette app whose `state.requests` logs what it received and whose `state.faults`
    a test can flip."""
    requests: list[RecordedRequest] = []
    faults = StubFaults()
    app = Starlette(routes=routes, middleware=[Middleware(RecordRequests, requests=requests, faults=faults)])
    app.state.requests = requests
    app.state.faults = faults
    return app


def run_stub(app: ASGIApp, args: argparse.Namespace) -> None:
    """Serve `app` where the command line (`stub_arguments`) says, over TLS when it asks."""
    tls = server_tls(args)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info", **(tls.uvicorn_options() if tls else {}))
