"""A thin MCP client for the CLI: the official SDK with a bearer token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, cast

import httpx2
import mcp_types as types
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.dispatcher import ProgressFnT

from gateway.approvals.mcp_agent import WAIT_META


class ClientFailure(Exception):
    """The gateway could not be reached or refused the request; the message says why."""


def _reason(exc: BaseException, refusals: list[str]) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    # The SDK reports any HTTP error as a generic JSON-RPC error; the status line the
    # gateway sent says what actually went wrong.
    if refusals:
        return refusals[-1]
    if isinstance(exc, httpx2.ConnectError):
        return f"cannot connect to the gateway ({exc})"
    if isinstance(exc, MCPError):
        return f"error {exc.error.code}: {exc.error.message}"
    return f"{type(exc).__name__}: {exc}"


def mcp_endpoint(url: str) -> str:
    """The MCP endpoint of a gateway named by its base URL or by the endpoint itself."""
    url = url.rstrip("/")
    return url if url.endswith("/mcp") else f"{url}/mcp"


@contextlib.asynccontextmanager
async def connect(url: str, token: str, *, read_timeout: float = 300) -> AsyncIterator[Client]:
    """A session with the gateway at `url` (its base URL or its /mcp endpoint)."""
    refusals: list[str] = []

    async def note_refusal(response: httpx2.Response) -> None:
        if response.status_code in (401, 403, 413, 429) or response.status_code >= 500:
            await response.aread()
            detail = response.headers.get("www-authenticate") or response.text[:300]
            refusals.append(f"HTTP {response.status_code} from the gateway: {detail}")

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=read_timeout),
        event_hooks={"response": [note_refusal]},
    )
    try:
        async with http, Client(streamable_http_client(mcp_endpoint(url), http_client=http), cache=None) as client:
            yield client
    except BaseException as exc:  # the SDK raises exception groups out of its transport
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise ClientFailure(_reason(exc, refusals)) from None


async def list_tools(url: str, token: str) -> list[types.Tool]:
    """Every tool, page after page."""
    tools: list[types.Tool] = []
    cursor: str | None = None
    async with connect(url, token) as client:
        while True:
            page = await client.list_tools(cursor=cursor)
            tools += page.tools
            cursor = page.next_cursor
            if cursor is None:
                return tools


#: Beyond the hold, time for the gateway to forward an approved call and answer.
_ANSWER_MARGIN_SECONDS = 60.0


async def call_tool(
    url: str,
    token: str,
    name: str,
    arguments: dict[str, Any],
    *,
    wait: float | bool | None = None,
    on_progress: ProgressFnT | None = None,
) -> types.CallToolResult:
    """Call `name`; `wait` is how long a held call may wait for approval (False: answer
    "pending" at once; None: the gateway's max_hold_seconds, which the read timeout covers
    up to 300 s)."""
    meta = None if wait is None else cast(types.RequestParamsMeta, {WAIT_META: wait})
    held = float(wait) if wait is not None and wait is not True else 0.0
    async with connect(url, token, read_timeout=max(300.0, held + _ANSWER_MARGIN_SECONDS)) as client:
        return await client.call_tool(name, arguments, progress_callback=on_progress, meta=meta)
