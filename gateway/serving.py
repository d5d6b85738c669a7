"""Run ASGI apps with uvicorn inside the current event loop: the gateway and its demo
stubs side by side in `gateway demo`, and real servers on ephemeral ports in tests."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

import uvicorn
from starlette.types import ASGIApp


class ServerFailed(RuntimeError):
    pass


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on right now (for a server a test starts in another process)."""
    with socket.create_server((host, 0)) as sock:
        return int(sock.getsockname()[1])


@contextlib.asynccontextmanager
async def running(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `app` until the block exits; yields its base URL (port 0 picks a free port).
    Signals stay with the caller, so several servers can share one process."""
    # Bound here, not by uvicorn: a taken port is one clear error instead of uvicorn's sys.exit.
    try:
        sock = socket.create_server((host, port), family=socket.AF_INET6 if ":" in host else socket.AF_INET)
    except OSError as exc:
        raise ServerFailed(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    config = uvicorn.Config(app, log_level="warning", lifespan="on", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign]
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
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await task
        sock.close()
