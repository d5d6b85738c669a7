"""A pass-through HTTP proxy that adds an agent's bearer token, for clients that cannot
send one (the MCP conformance suite). Everything else, Host and Origin included, goes
through unchanged, and responses (SSE streams too) are streamed back as they come."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

#: Headers that describe one hop, not the message (RFC 9110 section 7.6.1).
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "content-length"}


def auth_proxy(target: str, token: str) -> Starlette:
    client = httpx.AsyncClient(base_url=target, timeout=httpx.Timeout(30.0, read=None))

    async def forward(request: Request) -> StreamingResponse:
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        headers.append(("authorization", f"Bearer {token}"))
        upstream = client.build_request(
            request.method, request.url.path, params=request.query_params, headers=headers, content=request.stream()
        )
        response = await client.send(upstream, stream=True)
        kept = {k: v for k, v in response.headers.items() if k.lower() not in _HOP_BY_HOP}
        closing = BackgroundTask(response.aclose)
        return StreamingResponse(response.aiter_raw(), response.status_code, headers=kept, background=closing)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with client:
            yield

    return Starlette(routes=[Route("/{path:path}", forward, methods=["GET", "POST", "DELETE"])], lifespan=lifespan)
