"""A thin MCP client for the CLI: the official SDK with a bearer token."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import mcp_types as types
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from gateway.errors import ClientFailure as ClientFailure


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


@contextlib.asynccontextmanager
async def connect(url: str, token: str) -> AsyncIterator[Client]:
    refusals: list[str] = []

    async def note_refusal(response: httpx2.Response) -> None:
        if response.status_code in (401, 403, 413, 429) or response.status_code >= 500:
            await response.aread()
            detail = response.headers.get("www-authenticate") or response.text[:300]
            refusals.append(f"HTTP {response.status_code} from the gateway: {detail}")

    http = httpx2.AsyncClient(
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx2.Timeout(30, read=300),
        event_hooks={"response": [note_refusal]},
    )
    try:
        async with http, Client(streamable_http_client(url, http_client=http), cache=None) as client:
            yield client
    except BaseException as exc:  # the SDK raises exception groups out of its transport
        if isinstance(exc, (KeyboardInterrupt, SystemExit, GeneratorExit)):
            raise
        raise ClientFailure(_reason(exc, refusals)) from None


async def list_tools(url: str, token: str) -> list[types.Tool]:
    async with connect(url, token) as client:
        return (await client.list_tools()).tools


async def call_tool(url: str, token: str, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
    async with connect(url, token) as client:
        return await client.call_tool(name, arguments)
