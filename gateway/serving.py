"""Run ASGI apps with uvicorn inside the current event loop: the gateway and its demo
stubs side by side in `gateway demo`, and real servers on ephemeral ports in tests."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import socket
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn
from starlette.types import ASGIApp

from gateway.errors import ServerFailed as ServerFailed
from gateway.guards.connections import HeaderLimit, protocol_for
from gateway.guards.settings import GuardSettings

#: Container allocations between young-generation collections once the gateway serves
#: (CPython's default is 700).
YOUNG_COLLECTION_THRESHOLD = 10_000

#: Ports `free_port` handed out: the kernel may offer a closed port again at once, and two
#: servers told the same port before either binds it would collide.
_handed_out: set[int] = set()


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for a server a test starts in another process),
    never one this process was given before."""
    while True:
        with socket.create_server((host, 0)) as sock:
            port = int(sock.getsockname()[1])
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def settle_heap() -> None:
    """Once the gateway has started, for the process that serves it: what start-up built
    (config, policy, catalog, schemas, imported modules: about 150,000 objects) is frozen out of
    the cyclic collector's sight, and young collections run every 10,000 allocations
    instead of 700. Each collection also walks the objects of every request in flight, so
    by default the collector took 0.27 ms of each call's CPU at 16 agents (7 %) and its full
    collections (90 ms each) set the p99; after this, 0.035 ms (bench/cost.py, a gc
    callback timing each collection). Reference counting still frees all acyclic garbage
    at once; cycles wait a little longer."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, *gc.get_threshold()[1:])


@dataclass(frozen=True, slots=True)
class ServerTls:
    """A server's certificate and key (PEM files); with `client_ca_file`, every client must
    present a certificate that CA signed (mutual TLS). The stubs serve TLS with it."""

    cert_file: Path
    key_file: Path
    client_ca_file: Path | None = None

    def uvicorn_options(self) -> dict[str, Any]:
        """The same, as uvicorn's settings."""
        options: dict[str, Any] = {"ssl_certfile": str(self.cert_file), "ssl_keyfile": str(self.key_file)}
        if self.client_ca_file is not None:
            options |= {"ssl_ca_certs": str(self.client_ca_file), "ssl_cert_reqs": ssl.CERT_REQUIRED}
        return options

    def context(self) -> ssl.SSLContext:
        """The same, as a server context for `asyncio.start_server`."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        if self.client_ca_file is not None:
            context.load_verify_locations(cafile=self.client_ca_file)
            context.verify_mode = ssl.CERT_REQUIRED
        return context


def _listen(host: str, port: int) -> socket.socket:
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets whose
    # protocol says TCP, and with Nagle on every response waits out a 40 ms delayed ACK.
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


@contextlib.asynccontextmanager
async def running(
    app: ASGIApp,
    host: str = "127.0.0.1",
    port: int = 0,
    guards: GuardSettings | None = None,
    tls: ServerTls | None = None,
) -> AsyncIterator[str]:
    """Serve `app` until the block exits; yields its base URL (port 0 picks a free port;
    https:// with `tls`). Signals stay with the caller, so several servers can share one
    process. Slow clients and oversized headers are cut off as `guards` says (its defaults
    when not given)."""
    guards = guards or GuardSettings()
    # Bound here, not by uvicorn: a taken port is one clear error instead of uvicorn's sys.exit.
    try:
        sock = _listen(host, port)
    except OSError as exc:
        raise ServerFailed(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    config = uvicorn.Config(
        HeaderLimit(app, guards.max_header_bytes),
        log_level="warning",
        # uvicorn's access lines are info-level, below the warning level set here: without
        # this, each request still formats its client address and path for a discarded line.
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=2,
        http=protocol_for(guards),
        h11_max_incomplete_event_size=guards.max_header_bytes,
        **(tls.uvicorn_options() if tls is not None else {}),
    )
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    task = asyncio.create_task(server.serve(sockets=[sock]), name=f"uvicorn-{host}:{port}")
    while not server.started:
        if task.done():
            try:
                task.result()
            except (SystemExit, Exception) as exc:
                raise ServerFailed(f"server on {host}:{port} failed to start") from exc
            raise ServerFailed(f"server on {host}:{port} stopped during start-up")
        await asyncio.sleep(0.01)
    try:
        yield f"{'https' if tls else 'http'}://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await task
        sock.close()
