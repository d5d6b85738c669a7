"""One reused MCP client session per upstream server, kept alive by a supervisor task.

The SDK cancels the task that entered a `Client` when its transport fails, so the client
lives in a task of its own: an upstream restart costs that task a reconnect, never the
gateway's lifespan or a caller.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import Mapping
from typing import Any

import httpx2
import mcp_types
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client

from connectors.base import BackendError, BackendUnavailable, CallContext, Health
from gateway.models import ToolResult, ToolSpec

log = logging.getLogger(__name__)

#: How long a call waits for a (re)connection before it is refused as unavailable.
CONNECT_WAIT_SECONDS = 2.0
_MAX_BACKOFF_SECONDS = 5.0

#: The call whose request the shared HTTP client is sending (read by the request hook).
_current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("mcp_upstream_call", default=None)


def _to_result(result: mcp_types.CallToolResult) -> ToolResult:
    return ToolResult(
        content=tuple(c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.content),
        is_error=result.is_error,
        structured=result.structured_content if isinstance(result.structured_content, dict) else None,
    )


def _describe(exc: BaseException) -> str:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class McpConnector:
    def __init__(self, name: str, url: str, *, mode: str = "auto", headers: Mapping[str, str] | None = None) -> None:
        self.name = name
        self.url = url
        self.mode = mode
        self.headers = dict(headers or {})
        self._client: Client | None = None
        self._connected = asyncio.Event()
        self._broken = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._last_error = "not connected yet"

    async def start(self) -> None:
        self._supervisor = asyncio.create_task(self._supervise(), name=f"mcp-upstream-{self.name}")

    async def close(self) -> None:
        if self._supervisor is not None:
            self._supervisor.cancel()
            await asyncio.gather(self._supervisor, return_exceptions=True)
            self._supervisor = None

    async def _supervise(self) -> None:
        backoff = 0.1
        while True:
            try:
                await self._serve_one_session()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # the SDK raises exception groups out of a failed transport
                self._last_error = _describe(exc)
                log.warning("MCP upstream %s disconnected: %s", self.name, self._last_error)
            else:
                backoff = 0.1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _serve_one_session(self) -> None:
        http = httpx2.AsyncClient(
            headers=self.headers,
            timeout=httpx2.Timeout(10.0, read=300.0),
            event_hooks={"request": [self._stamp_request]},
        )
        transport = streamable_http_client(self.url, http_client=http)
        async with http, Client(transport, mode=self.mode, cache=None) as client:
            self._client = client
            self._broken.clear()
            self._connected.set()
            self._last_error = ""
            try:
                await self._broken.wait()
            finally:
                self._connected.clear()
                self._client = None

    async def _stamp_request(self, request: httpx2.Request) -> None:
        call = _current_call.get()
        if call is not None:
            request.headers["traceparent"] = call.traceparent

    async def _session(self) -> Client:
        try:
            async with asyncio.timeout(CONNECT_WAIT_SECONDS):
                await self._connected.wait()
        except TimeoutError:
            raise BackendUnavailable(f"upstream MCP server not reachable ({self._last_error})") from None
        assert self._client is not None
        return self._client

    async def tools(self) -> list[ToolSpec]:
        client = await self._session()
        specs: list[ToolSpec] = []
        cursor: str | None = None
        try:
            while True:
                page = await client.list_tools(cursor=cursor)
                specs.extend(
                    ToolSpec(
                        connector=self.name,
                        name=t.name,
                        description=t.description or "",
                        input_schema=t.input_schema,
                        read_only=bool(t.annotations and t.annotations.read_only_hint),
                        title=t.title,
                    )
                    for t in page.tools
                )
                cursor = page.next_cursor
                if not cursor:
                    return specs
        except MCPError as exc:
            raise BackendError(f"upstream refused tools/list: {exc.error.message}") from None
        except Exception as exc:
            self._broken.set()
            raise BackendUnavailable(f"upstream connection failed ({_describe(exc)})") from None

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        client = await self._session()
        token = _current_call.set(context)
        try:
            result = await client.call_tool(tool, dict(arguments), read_timeout_seconds=context.timeout)
        except MCPError as exc:
            raise BackendError(f"upstream error {exc.error.code}: {exc.error.message}") from None
        except Exception as exc:
            self._broken.set()
            raise BackendUnavailable(f"upstream connection failed ({_describe(exc)})") from None
        finally:
            _current_call.reset(token)
        return _to_result(result)

    async def health(self) -> Health:
        if self._connected.is_set():
            return Health(True, "connected")
        return Health(False, self._last_error)
