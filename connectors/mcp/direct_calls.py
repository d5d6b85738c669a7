"""Tool calls to a Streamable HTTP upstream as plain POSTs (connectors.mcp.http1), without
the SDK client's per-call machinery (memory streams, task groups, two validations).

It speaks what the SDK client would: on the 2026-07-28 protocol the per-request `_meta`
envelope and the `Mcp-Protocol-Version`, `Mcp-Method`, `Mcp-Name` and `Mcp-Param-*`
headers; on the 2025 protocols the session id and protocol version of the connector's
SDK session, whose event stream gets what the upstream sends outside a call (a session
the upstream forgot, HTTP 404, raises SessionExpired: the connector reconnects). What the upstream
sends on a call's event stream goes where the SDK would send it: progress and log
messages to the call's back-channel, sampling and elicitation requests to the
connector's handlers (answered on a POST of their own), other notifications to the
connector. An agent's cancel closes the request's stream (2026-07-28) or sends
`notifications/cancelled` (2025). A 2026-07-28 answer that asks the agent for input, or
refuses stale tool headers, is left to the SDK client (`NeedsSdk`): the upstream has
not acted on it yet.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import ssl
from collections.abc import Awaitable, Mapping
from typing import Any, Protocol

import mcp_types
from mcp.shared.inbound import (
    MCP_METHOD_HEADER,
    MCP_NAME_HEADER,
    MCP_PROTOCOL_VERSION_HEADER,
    encode_header_value,
    mcp_param_headers,
    x_mcp_header_map,
)
from mcp_types.version import MODERN_PROTOCOL_VERSIONS
from pydantic import ValidationError

from connectors.base import BackendError, BackendUnavailable
from connectors.mcp.http1 import Origin, ProtocolFailure, Response
from gateway import __version__
from gateway.errors import GatewayError
from gateway.models import ToolResult, ToolSpec
from gateway.relay import Relay

log = logging.getLogger(__name__)

CLIENT_INFO = {"name": "agent-gateway", "version": __version__}
#: What the connector answers for: sampling and elicitation (relayed to the calling agent).
CLIENT_CAPABILITIES: dict[str, Any] = {"sampling": {}, "elicitation": {"form": {}, "url": {}}}
_SESSION = "mcp-session-id"
_BASE_HEADERS = {"accept": "application/json, text/event-stream", "content-type": "application/json"}
#: Largest JSON answer read into memory (an event stream is read event by event).
MAX_ANSWER_BYTES = 64 * 1024 * 1024


class NeedsSdk(GatewayError):
    """The upstream answered in a way only the SDK client's full machinery handles."""


class SessionExpired(BackendUnavailable):
    """The upstream no longer knows the session (HTTP 404): it refused the call unread."""


class ServerTraffic(Protocol):
    """Where what an upstream sends during a call goes (the connector)."""

    async def on_message(self, message: Any) -> None: ...

    async def on_log(self, params: mcp_types.LoggingMessageNotificationParams) -> None: ...

    async def on_sampling(
        self, context: object, params: mcp_types.CreateMessageRequestParams
    ) -> mcp_types.CreateMessageResult | mcp_types.ErrorData: ...

    async def on_elicitation(
        self, context: object, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult | mcp_types.ErrorData: ...


class DirectCalls:
    """tools/call to one upstream, in the protocol (and 2025 session) its SDK client negotiated."""

    def __init__(
        self,
        url: str,
        headers: Mapping[str, str],
        traffic: ServerTraffic,
        version: str,
        session: str | None,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        self._origin = Origin(url, connect_timeout=10.0, tls=tls)
        self._headers = {**_BASE_HEADERS, **{k.lower(): v for k, v in headers.items()}}
        self._traffic = traffic
        self.version = version
        self.modern = version in MODERN_PROTOCOL_VERSIONS
        #: The SDK client's session (2025 protocols): what the upstream sends outside a call's
        #: stream reaches the connector on that session's own event stream.
        self._session = None if self.modern else session
        self._ids = itertools.count(1)
        self._envelope = {
            mcp_types.PROTOCOL_VERSION_META_KEY: version,
            mcp_types.CLIENT_INFO_META_KEY: CLIENT_INFO,
            mcp_types.CLIENT_CAPABILITIES_META_KEY: CLIENT_CAPABILITIES,
            mcp_types.LOG_LEVEL_META_KEY: "debug",
        }

    def close(self) -> None:
        self._origin.close()

    async def call(
        self,
        tool: str,
        arguments: Mapping[str, Any],
        relay: Relay | None,
        traceparent: str,
        param_headers: Mapping[tuple[str, ...], str] | None = None,
    ) -> ToolResult:
        """`param_headers` maps argument paths to `Mcp-Param-*` headers, from the tool's listed
        schema (`param_header_map`); without it none are sent, as by the SDK for an unlisted tool."""
        request_id = next(self._ids)
        params: dict[str, Any] = {"name": tool, "arguments": dict(arguments)}
        meta: dict[str, Any] = {"progressToken": request_id} if relay is not None else {}
        headers = self._request_headers(traceparent)
        if self.modern:
            meta.update(self._envelope)
            headers[MCP_METHOD_HEADER] = "tools/call"
            headers[MCP_NAME_HEADER] = encode_header_value(tool)
            if param_headers:
                headers.update(mcp_param_headers(param_headers, arguments))
        if meta:
            params["_meta"] = meta
        try:
            async with self._origin.post(headers, _encode(request_id, "tools/call", params)) as response:
                answer = await self._answer(response, request_id, relay)
        except asyncio.CancelledError:
            if not self.modern:  # the 2026-07-28 cancel is the closed stream itself
                self._cancel_later(request_id)
            raise
        return _tool_result(answer)

    def _request_headers(self, traceparent: str | None = None) -> dict[str, str]:
        headers = {**self._headers, MCP_PROTOCOL_VERSION_HEADER: self.version}
        if traceparent:
            headers["traceparent"] = traceparent
        if self._session is not None:
            headers[_SESSION] = self._session
        return headers

    async def _answer(self, response: Response, request_id: int, relay: Relay | None) -> dict[str, Any]:
        """The JSON-RPC answer to `request_id`, from a JSON body or the request's event stream."""
        if response.status == 404 and self._session is not None:
            raise SessionExpired("the upstream ended the session (HTTP 404); reconnecting")
        if response.status >= 300:
            raise await _refusal(response)
        if response.content_type == "application/json":
            return _message(await response.read(MAX_ANSWER_BYTES))
        if response.content_type != "text/event-stream":
            raise BackendError(f"upstream answered with content type {response.content_type!r}")
        data: list[bytes] = []
        async for line in response.lines():
            if line.startswith(b"data:"):
                data.append(line[5:].removeprefix(b" "))
            elif not line and data:
                message = _message(b"\n".join(data))
                data.clear()
                if message.get("id") == request_id and "method" not in message:
                    return message
                await self._from_server(message, relay)
        raise BackendUnavailable("upstream event stream ended before the answer")

    async def _from_server(self, message: dict[str, Any], relay: Relay | None) -> None:
        """A notification or request the upstream sent while answering a call."""
        method = message.get("method")
        params = message.get("params") or {}
        try:
            if "id" in message:
                await self._reply(message["id"], await self._serve(message))
            elif method == "notifications/progress" and relay is not None:
                progress = mcp_types.ProgressNotificationParams.model_validate(params)
                await relay.progress(progress.progress, progress.total, progress.message)
            elif method == "notifications/message":
                await self._traffic.on_log(mcp_types.LoggingMessageNotificationParams.model_validate(params))
            elif isinstance(method, str):
                notification = {"method": method, "params": params} if params else {"method": method}
                await self._traffic.on_message(mcp_types.server_notification_adapter.validate_python(notification))
        except ValidationError as exc:
            log.warning("upstream sent a malformed %s during a call: %s", method, exc.errors()[:1])

    async def _serve(self, message: dict[str, Any]) -> dict[str, Any]:
        request = mcp_types.server_request_adapter.validate_python({k: v for k, v in message.items() if k != "id"})
        answer: Awaitable[Any]
        if isinstance(request, mcp_types.CreateMessageRequest):
            answer = self._traffic.on_sampling(None, request.params)
        elif isinstance(request, mcp_types.ElicitRequest):
            answer = self._traffic.on_elicitation(None, request.params)
        elif isinstance(request, mcp_types.PingRequest):
            return {"result": {}}
        else:
            return {"error": {"code": mcp_types.METHOD_NOT_FOUND, "message": f"{request.method} is not supported"}}
        result = await answer
        dumped = result.model_dump(by_alias=True, mode="json", exclude_none=True)
        return {"error": dumped} if isinstance(result, mcp_types.ErrorData) else {"result": dumped}

    async def _reply(self, request_id: Any, answer: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", "id": request_id, **answer}).encode()
        async with self._origin.post(self._request_headers(), body) as response:
            await response.read(MAX_ANSWER_BYTES)

    async def _notify(self, method: str, params: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", "method": method, "params": params}).encode()
        async with self._origin.post(self._request_headers(), body) as response:
            await response.read(MAX_ANSWER_BYTES)

    def _cancel_later(self, request_id: int) -> None:
        async def cancel() -> None:
            try:
                async with asyncio.timeout(5):
                    await self._notify("notifications/cancelled", {"requestId": request_id, "reason": "cancelled"})
            except (ProtocolFailure, TimeoutError) as exc:
                log.info("could not tell the upstream that call %s was cancelled: %s", request_id, exc)

        task = asyncio.get_running_loop().create_task(cancel())
        _background.add(task)
        task.add_done_callback(_background.discard)


#: Cancel notices in flight (a task nobody holds may be collected before it runs).
_background: set[asyncio.Task[None]] = set()


def _encode(request_id: int, method: str, params: dict[str, Any]) -> bytes:
    return json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}).encode()


def _message(raw: bytes) -> dict[str, Any]:
    try:
        message = json.loads(raw)
    except ValueError:
        raise BackendError("upstream sent a body that is not JSON") from None
    if not isinstance(message, dict):
        raise BackendError("upstream sent JSON that is not a JSON-RPC message")
    return message


async def _refusal(response: Response) -> BackendError | NeedsSdk:
    """What an HTTP error or redirect from the upstream means for the call."""
    if 300 <= response.status < 400:
        where = response.headers.get("location", "?")
        return BackendError(f"upstream redirected to {where}; not followed: use that URL if it is the server")
    if response.content_type == "application/json":
        message = _message(await response.read(MAX_ANSWER_BYTES))
        if isinstance(message.get("error"), dict):
            return _error(message["error"])
    return BackendError(f"upstream answered HTTP {response.status}")


def _error(error: Mapping[str, Any]) -> BackendError | NeedsSdk:
    code = error.get("code")
    if code == mcp_types.HEADER_MISMATCH:
        return NeedsSdk()
    return BackendError(f"upstream error {code}: {error.get('message', '')}")


def _result_of(answer: Mapping[str, Any], what: str) -> dict[str, Any]:
    if isinstance(answer.get("error"), dict):
        raise _error(answer["error"])
    result = answer.get("result")
    if not isinstance(result, dict):
        raise BackendError(f"upstream answered {what} without a result")
    return result


def _tool_result(answer: Mapping[str, Any]) -> ToolResult:
    """The upstream's result, validated once (here, as the SDK client would) and then passed
    on as the JSON it came as."""
    result = _result_of(answer, "tools/call")
    if result.get("resultType", "complete") != "complete":
        raise NeedsSdk
    try:
        checked = mcp_types.CallToolResult.model_validate(result, by_name=False)
    except ValidationError as exc:
        raise BackendError(f"upstream sent a malformed tool result: {exc.errors()[0]['msg']}") from None
    structured = checked.structured_content if isinstance(checked.structured_content, dict) else None
    return ToolResult(content=tuple(result["content"]), is_error=checked.is_error, structured=structured)


def param_header_map(spec: ToolSpec) -> dict[tuple[str, ...], str]:
    """Which arguments of `spec` a 2026-07-28 call mirrors into `Mcp-Param-*` headers (once per listing)."""
    return x_mcp_header_map(spec.input_schema)
