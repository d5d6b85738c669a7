"""What signing in to an OAuth-protected upstream costs the `mcp` connector, and why the
connector does not use the SDK's provider as its HTTP client's `auth` directly.

    .venv/bin/python bench/bench_mcp_oauth.py [--calls 300 --concurrency 16 --sleep 0.05]

An in-process authorization server (RFC 8414 metadata, client credentials) and the echo
upstream behind a bearer check with RFC 9728 metadata, in JSON-response mode (each answer
arrives whole, the mode where a request-wide lock shows). Three clients make the same
calls at the same concurrency: the connector to the same upstream without auth (the
reference), the connector signing in (`connectors.mcp.oauth.UpstreamSignIn`), and an SDK
client with `ClientCredentialsOAuthProvider` as its `auth`. Prints calls/s and the ratio
to the reference, for `echo` (the sign-in's own cost) and for `sleep` (concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import secrets
import time
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from typing import Any

import httpx2
from mcp import Client
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from connectors.base import CallContext
from connectors.mcp import create
from connectors.mcp import stub as echo_stub
from connectors.mcp.oauth import MemoryTokens
from gateway.config import ConnectorSettings
from gateway.events import EventBus
from gateway.models import Principal
from gateway.serving import running

ROUNDS = 3
CLIENT = {"client_id": "bench", "client_secret": "bench-secret"}
CONTEXT = CallContext("bench", Principal("bench"), "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", 30.0)


def authorization_server(issued: set[str], base: Callable[[], str]) -> Starlette:
    async def metadata(request: Request) -> JSONResponse:
        url = base()
        return JSONResponse({"issuer": url, "authorization_endpoint": f"{url}/a", "token_endpoint": f"{url}/token"})

    async def token(request: Request) -> JSONResponse:
        issued.add(value := secrets.token_urlsafe(24))
        return JSONResponse({"access_token": value, "token_type": "Bearer", "expires_in": 3600})

    return Starlette(
        routes=[Route("/.well-known/oauth-authorization-server", metadata), Route("/token", token, methods=["POST"])]
    )


def guarded(app: ASGIApp, issued: set[str], base: Callable[[], str], issuer: Callable[[], str]) -> ASGIApp:
    async def guard(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await app(scope, receive, send)
        if scope["path"] == "/.well-known/oauth-protected-resource/mcp":
            prm = {"resource": f"{base()}/mcp", "authorization_servers": [issuer()]}
            return await JSONResponse(prm)(scope, receive, send)
        bearer = dict(scope["headers"]).get(b"authorization", b"").decode().removeprefix("Bearer ")
        if bearer not in issued:
            challenge = f'Bearer resource_metadata="{base()}/.well-known/oauth-protected-resource/mcp"'
            return await JSONResponse({}, 401, {"WWW-Authenticate": challenge})(scope, receive, send)
        await app(scope, receive, send)

    return guard


async def rate(calls: int, concurrency: int, call: Callable[[], Awaitable[Any]]) -> float:
    await call()  # connect and sign in outside the measurement
    remaining = iter(range(calls))

    async def worker() -> None:
        for _ in remaining:
            await call()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return calls / (time.perf_counter() - started)


async def main(calls: int, concurrency: int, sleep: float) -> None:
    issued: set[str] = set()
    urls: dict[str, str] = {}
    async with AsyncExitStack() as stack:
        urls["as"] = await stack.enter_async_context(running(authorization_server(issued, lambda: urls["as"])))
        plain = await stack.enter_async_context(running(echo_stub.create_app(json_response=True)))
        protected_app = guarded(
            echo_stub.create_app(json_response=True), issued, lambda: urls["up"], lambda: urls["as"]
        )
        urls["up"] = await stack.enter_async_context(running(protected_app))
        reference = create(ConnectorSettings("plain", "mcp", 30.0, {"url": f"{plain}/mcp"}), EventBus())
        auth = {"kind": "oauth_client_credentials", "issuer": urls["as"], **CLIENT}
        options = {"url": f"{urls['up']}/mcp", "auth": auth}
        signing_in = create(ConnectorSettings("signed", "mcp", 30.0, options), EventBus())
        for connector in (reference, signing_in):
            await connector.start()
            stack.push_async_callback(connector.close)
        provider = ClientCredentialsOAuthProvider(
            f"{urls['up']}/mcp", MemoryTokens(), CLIENT["client_id"], CLIENT["client_secret"], issuer=urls["as"]
        )
        http = await stack.enter_async_context(httpx2.AsyncClient(auth=provider, timeout=30))
        transport = streamable_http_client(f"{urls['up']}/mcp", http_client=http)
        sdk = await stack.enter_async_context(Client(transport, cache=None))
        for tool, arguments in (("echo", {"text": "x"}), ("sleep", {"seconds": sleep})):
            clients: dict[str, Callable[[], Awaitable[Any]]] = {
                "connector, no auth (reference)": functools.partial(reference.call, tool, arguments, CONTEXT),
                "connector signing in (UpstreamSignIn)": functools.partial(signing_in.call, tool, arguments, CONTEXT),
                "SDK provider as the httpx auth": functools.partial(sdk.call_tool, tool, arguments),
            }
            print(f"{tool} x{calls}, {concurrency} at once (JSON-response upstream), best of {ROUNDS} rounds")
            best = dict.fromkeys(clients, 0.0)
            for _ in range(ROUNDS):  # interleaved, so a noisy moment does not favour one client
                for label, call in clients.items():
                    best[label] = max(best[label], await rate(calls, concurrency, call))
            base = next(iter(best.values()))
            for label, per_second in best.items():
                print(f"  {label:<40} {per_second:7.0f} calls/s   {per_second / base:5.2f} of reference")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--sleep", type=float, default=0.05, help="seconds each `sleep` call takes upstream")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency, args.sleep))
