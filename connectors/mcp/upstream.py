"""One reused MCP client session per upstream server, kept alive by a supervisor task.

The SDK cancels the task that entered a `Client` when its transport fails, so the client
lives in a task of its own: an upstream restart costs that task a reconnect, never the
gateway's lifespan or a caller.

An upstream is either a Streamable HTTP URL or a command started as a subprocess that
speaks MCP over stdio. A stdio server that exits is noticed (a closed connection on a
call, or a failed liveness ping) and started again, with a backoff that only resets once a
session has stayed up for a while, so a server that crashes at once is not restarted in a
tight loop. The tool list is cached and fetched again when the upstream announces
`notifications/tools/list_changed` or after a reconnect, and `ToolsChanged` is published
(gateway.events), as are the upstream's changed prompt and resource lists and updated
resources.

Beyond tools it passes on the upstream's prompts and resources, and relays what the
upstream sends during a call (progress, log messages, sampling and elicitation requests)
to the back-channel of that call (gateway.relay).

An HTTP upstream that requires OAuth gets the gateway's own token (connectors.mcp.oauth),
never the agent's; a failed sign-in is what the caller's error and the health say.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import ssl
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, TypeVar

import httpx2
import mcp_types
from mcp import Client, MCPError
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from connectors.base import BackendError, BackendUnavailable, CallContext, Health
from connectors.mcp.direct_calls import CLIENT_INFO, DirectCalls, NeedsSdk, SessionExpired, param_header_map
from connectors.mcp.http1 import direct_route
from connectors.mcp.oauth import SignInFailed, UpstreamSignIn, sign_in_problems
from connectors.tls import tls_failure
from gateway.events import EventBus, ListingChanged, ResourceUpdated, ToolsChanged
from gateway.models import ToolResult, ToolSpec
from gateway.relay import Relay, current_relay

log = logging.getLogger(__name__)

T = TypeVar("T")
#: What an upstream says changed besides its tools.
_CHANGE_KINDS: dict[type[Any], str] = {
    mcp_types.PromptListChangedNotification: "prompts",
    mcp_types.ResourceListChangedNotification: "resources",
}

#: How long a call waits for a (re)connection before it is refused as unavailable.
CONNECT_WAIT_SECONDS = 2.0
_MAX_BACKOFF_SECONDS = 5.0
#: A session that lasted this long was a real recovery: the restart backoff starts over.
_STABLE_SECONDS = 5.0

#: The call whose request the shared HTTP client is sending (read by the request hook).
_current_call: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar("mcp_upstream_call", default=None)


def _to_result(result: mcp_types.CallToolResult) -> ToolResult:
    return ToolResult(
        content=tuple(c.model_dump(mode="json", by_alias=True, exclude_none=True) for c in result.content),
        is_error=result.is_error,
        structured=result.structured_content if isinstance(result.structured_content, dict) else None,
    )


def _describe(exc: BaseException, tls: ssl.SSLContext | None = None) -> str:
    failure = tls_failure(exc, tls)
    if failure is not None:
        return failure
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


class McpConnector:
    def __init__(
        self,
        name: str,
        target: str | StdioServerParameters,
        *,
        events: EventBus,
        mode: str = "auto",
        headers: Mapping[str, str] | None = None,
        ping_interval: float | None = None,
        sessions: int = 1,
        tls: ssl.SSLContext | None = None,
        sign_in: UpstreamSignIn | None = None,
    ) -> None:
        self.name = name
        self.target = target
        self.mode = mode
        self.headers = dict(headers or {})
        #: The gateway's own OAuth sign-in at an upstream that requires it.
        self.sign_in = sign_in
        #: Seconds between liveness pings of an idle session (None: only calls notice a loss).
        self.ping_interval = ping_interval
        #: SDK client sessions opened side by side (stdio: always one); tool calls take turns
        #: on them when they do not go as plain POSTs (`direct_calls`).
        self.sessions = sessions
        #: The TLS context of an https:// upstream (connectors.tls); None for http:// and stdio.
        self.tls = tls
        #: Tool calls over Streamable HTTP as plain POSTs (None: over stdio, or through a proxy).
        self._direct: DirectCalls | None = None
        #: Per tool of the last listing, the arguments a 2026-07-28 call mirrors into headers.
        self._param_headers: dict[str, dict[tuple[str, ...], str]] = {}
        #: The session id the upstream gave last (read by the response hook).
        self._last_session_id: str | None = None
        #: The first session also serves listings, subscriptions and liveness pings.
        self._client: Client | None = None
        self._pool: list[Client] = []
        self._turn = 0
        self._connected = asyncio.Event()
        self._broken = asyncio.Event()
        self._supervisor: asyncio.Task[None] | None = None
        self._last_error = "not connected yet"
        self._tools: list[ToolSpec] | None = None
        self.events = events
        #: How many sessions were opened: a restarted stdio server shows as 2, 3, ...
        self.sessions_started = 0
        #: Back-channels of the calls running now (upstream log messages carry no request id).
        self._in_flight: list[Relay] = []

    def _tools_changed(self) -> None:
        self._tools = None
        self.events.publish(ToolsChanged(self.name))

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
            started = asyncio.get_running_loop().time()
            sessions = self.sessions_started
            try:
                await self._serve_one_session()
            except asyncio.CancelledError:
                raise
            except BaseException as exc:  # the SDK raises exception groups out of a failed transport
                # A reset before the session came up is read as a TLS refusal; a later one is not.
                refused = self.tls if self.sessions_started == sessions else None
                failure = self.sign_in.failure if self.sign_in is not None else None
                self._last_error = f"cannot sign in: {failure}" if failure else _describe(exc, refused)
                log.warning("MCP upstream %s disconnected: %s", self.name, self._last_error)
            if asyncio.get_running_loop().time() - started >= _STABLE_SECONDS:
                backoff = 0.1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, _MAX_BACKOFF_SECONDS)

    async def _serve_one_session(self) -> None:
        async with contextlib.AsyncExitStack() as stack:
            if isinstance(self.target, StdioServerParameters):
                transports: list[Any] = [self.target]
            else:
                if self.sign_in is not None:
                    await stack.enter_async_context(self.sign_in)
                http = await stack.enter_async_context(
                    httpx2.AsyncClient(
                        headers=self.headers,
                        timeout=httpx2.Timeout(10.0, read=300.0),
                        event_hooks={"request": [self._stamp_request], "response": [self._note_session]},
                        verify=self.tls or True,
                        auth=self.sign_in,
                    )
                )
                transports = [streamable_http_client(self.target, http_client=http) for _ in range(self.sessions)]
            pool: list[Client] = []
            session_id: str | None = None
            for transport in transports:
                client = await stack.enter_async_context(
                    Client(
                        transport,
                        mode=self.mode,
                        cache=None,
                        message_handler=self.on_message,
                        logging_callback=self.on_log,
                        sampling_callback=self.on_sampling,
                        elicitation_callback=self.on_elicitation,
                        client_info=mcp_types.Implementation(**CLIENT_INFO),
                        # 2026-07-28 upstreams send log messages only to requests that opt in.
                        log_level="debug",
                    )
                )
                if not pool:  # the session the first SDK client just opened
                    session_id = self._last_session_id
                pool.append(client)
            client = pool[0]
            self._direct = self._open_direct(client, session_id)
            self._client, self._pool = client, pool
            self.sessions_started += 1
            self._broken.clear()
            self._connected.set()
            self._last_error = ""
            if self.sessions_started > 1:
                self._tools_changed()  # a restarted server may offer other tools
            try:
                await self._watch(client)
            finally:
                self._connected.clear()
                if self._direct is not None:
                    self._direct.close()
                self._client, self._pool, self._direct = None, [], None

    def _open_direct(self, client: Client, session_id: str | None) -> DirectCalls | None:
        """Plain-POST tool calls in the SDK client's session (not over stdio, nor when the
        environment routes the upstream through a proxy, which http1 cannot)."""
        if not isinstance(self.target, str) or not direct_route(self.target) or self.sign_in is not None:
            # An upstream behind OAuth stays on the SDK client, whose auth flow adds the token,
            # renews it and steps up scopes (connectors.mcp.oauth).
            return None
        version = client.protocol_version or "2025-11-25"
        return DirectCalls(self.target, self.headers, self, version, session_id, self.tls)

    async def _note_session(self, response: httpx2.Response) -> None:
        if session := response.headers.get("mcp-session-id"):
            self._last_session_id = session

    async def _watch(self, client: Client) -> None:
        """Until the session breaks; with a ping interval, an upstream that died while idle
        is noticed (and restarted) before the next call finds out."""
        while True:
            try:
                async with asyncio.timeout(self.ping_interval):
                    await self._broken.wait()
                return
            except TimeoutError:
                pass
            try:
                async with asyncio.timeout(CONNECT_WAIT_SECONDS):
                    # `ping` is gone from 2026-07-28; there a tools/list is the cheapest request.
                    # (The session's ping, unlike the client's, does not warn on older protocols.)
                    if client.protocol_version == "2026-07-28":
                        await client.list_tools()
                    else:
                        await client.session.send_ping()
            except Exception as exc:
                self._last_error = f"liveness ping failed ({_describe(exc)})"
                return

    async def on_message(self, message: Any) -> None:
        if isinstance(message, mcp_types.ToolListChangedNotification):
            log.info("MCP upstream %s announced a changed tool list", self.name)
            self._tools_changed()
        kind = _CHANGE_KINDS.get(type(message))
        if kind is not None:
            self.events.publish(ListingChanged(kind))
        if isinstance(message, mcp_types.ResourceUpdatedNotification):
            self.events.publish(ResourceUpdated(str(message.params.uri)))

    async def on_log(self, params: mcp_types.LoggingMessageNotificationParams) -> None:
        # A log message names no request: it reaches an agent only when exactly one call
        # is running, so one agent never sees what another agent's call logged.
        if len(self._in_flight) == 1:
            await self._in_flight[0].log(params.level, params.data, params.logger)
        else:
            log.debug("upstream %s log message not relayed (%d calls running)", self.name, len(self._in_flight))

    def _only_relay(self, what: str) -> Relay | mcp_types.ErrorData:
        # Like log messages, a server-to-client request names no call of ours: it is put
        # to an agent only when exactly one call is running.
        if len(self._in_flight) == 1:
            return self._in_flight[0]
        reason = "no call is running" if not self._in_flight else f"{len(self._in_flight)} calls are running"
        return mcp_types.ErrorData(code=mcp_types.INVALID_REQUEST, message=f"{what} not relayed: {reason}")

    async def on_sampling(
        self, context: object, params: mcp_types.CreateMessageRequestParams
    ) -> mcp_types.CreateMessageResult | mcp_types.ErrorData:
        relay = self._only_relay("sampling request")
        return relay if isinstance(relay, mcp_types.ErrorData) else await relay.sample(params)

    async def on_elicitation(
        self, context: object, params: mcp_types.ElicitRequestParams
    ) -> mcp_types.ElicitResult | mcp_types.ErrorData:
        relay = self._only_relay("elicitation request")
        return relay if isinstance(relay, mcp_types.ErrorData) else await relay.elicit(params)

    async def _stamp_request(self, request: httpx2.Request) -> None:
        call = _current_call.get()
        if call is not None:
            request.headers["traceparent"] = call.traceparent

    async def _session(self, *, any_of_pool: bool = False) -> Client:
        try:
            if not self._connected.is_set():  # a deadline costs a timer per call: only when waiting
                async with asyncio.timeout(CONNECT_WAIT_SECONDS):
                    await self._connected.wait()
        except TimeoutError:
            failure = self.sign_in.failure_for_agents if self.sign_in is not None else None
            if failure:
                raise SignInFailed(f"cannot sign in to the upstream MCP server: {failure}") from None
            raise BackendUnavailable(f"upstream MCP server not reachable ({self._last_error})") from None
        assert self._client is not None
        if any_of_pool:
            self._turn = (self._turn + 1) % len(self._pool)
            return self._pool[self._turn]
        return self._client

    async def tools(self) -> list[ToolSpec]:
        if self._tools is not None:
            return list(self._tools)
        client = await self._session()
        specs: list[ToolSpec] = []
        cursor: str | None = None
        with self._answering("upstream refused tools/list"):
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
                        output_schema=t.output_schema,
                        annotations=t.annotations.model_dump(exclude_none=True) if t.annotations else None,
                    )
                    for t in page.tools
                )
                cursor = page.next_cursor
                if not cursor:
                    self._tools, self._param_headers = specs, {s.name: param_header_map(s) for s in specs}
                    return list(specs)

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        client = await self._session(any_of_pool=True)
        relay = current_relay()
        token = _current_call.set(context)
        if relay is not None:
            self._in_flight.append(relay)
        try:
            with self._answering("upstream error {code}"):
                if self._direct is not None:
                    with contextlib.suppress(NeedsSdk):  # answers only the SDK client handles
                        headers = self._param_headers.get(tool)
                        return await self._direct.call(tool, arguments, relay, context.traceparent, headers)
                result = await client.call_tool(
                    tool,
                    dict(arguments),
                    read_timeout_seconds=context.timeout,
                    progress_callback=relay.progress if relay is not None else None,
                )
        finally:
            _current_call.reset(token)
            if relay is not None:
                self._in_flight.remove(relay)
        return _to_result(result)

    async def _request(self, what: str, send: Callable[[Client], Awaitable[T]]) -> T:
        client = await self._session()
        with self._answering(f"upstream refused {what}"):
            return await send(client)

    @contextlib.contextmanager
    def _answering(self, what: str) -> Iterator[None]:
        """Errors of one request to the upstream as the agent gets them; what the sign-in
        noted for this request says it better than the HTTP error it ended in."""
        problems: list[str] = []
        token = sign_in_problems.set(problems)
        try:
            yield
        except BackendError as exc:  # the plain-POST path words its own
            if isinstance(exc, SessionExpired):
                self._broken.set()
            raise
        except MCPError as exc:
            error = self._error(exc, what)  # first: it notes a closed connection
            raise (self._sign_in_error(problems[-1]) if problems else error) from None
        except Exception as exc:
            self._broken.set()
            if problems:
                raise self._sign_in_error(problems[-1]) from None
            raise BackendUnavailable(f"upstream connection failed ({_describe(exc)})") from None
        finally:
            sign_in_problems.reset(token)

    def _sign_in_error(self, problem: str) -> BackendError:
        # Without any token the upstream is out of reach; a refused extra scope is this call's.
        if self.sign_in is not None and self.sign_in.failure:
            return SignInFailed(f"cannot sign in to the upstream MCP server: {problem}")
        return BackendError(f"upstream refused the request: {problem}")

    async def _pages(self, what: str, fetch: Callable[[Client, str | None], Awaitable[Any]], field: str) -> list[Any]:
        items: list[Any] = []
        cursor: str | None = None
        while True:
            page = await self._request(what, _page_of(fetch, cursor))
            items.extend(getattr(page, field))
            cursor = page.next_cursor
            if not cursor:
                return items

    async def prompts(self) -> list[mcp_types.Prompt]:
        return await self._pages("prompts/list", lambda c, cursor: c.list_prompts(cursor=cursor), "prompts")

    async def get_prompt(self, name: str, arguments: Mapping[str, str]) -> mcp_types.GetPromptResult:
        return await self._request(f"prompt {name}", lambda c: c.get_prompt(name, dict(arguments)))

    async def resources(self) -> list[mcp_types.Resource]:
        return await self._pages("resources/list", lambda c, cursor: c.list_resources(cursor=cursor), "resources")

    async def resource_templates(self) -> list[mcp_types.ResourceTemplate]:
        return await self._pages(
            "resources/templates/list",
            lambda c, cursor: c.list_resource_templates(cursor=cursor),
            "resource_templates",
        )

    async def read_resource(self, uri: str) -> mcp_types.ReadResourceResult:
        return await self._request(f"resource {uri}", lambda c: c.read_resource(uri))

    async def subscribe_resource(self, uri: str) -> None:
        await self._request(f"subscription to {uri}", lambda c: c.subscribe_resource(uri))

    async def unsubscribe_resource(self, uri: str) -> None:
        await self._request(f"unsubscription from {uri}", lambda c: c.unsubscribe_resource(uri))

    async def complete(
        self,
        ref: mcp_types.PromptReference | mcp_types.ResourceTemplateReference,
        argument: dict[str, str],
        context: dict[str, str] | None,
    ) -> mcp_types.CompleteResult:
        return await self._request("completion", lambda c: c.complete(ref, argument, context))

    def _error(self, exc: MCPError, what: str) -> BackendError:
        if exc.error.code == mcp_types.CONNECTION_CLOSED:
            # The server went away mid-request (a stdio subprocess that exited): reconnect.
            self._last_error = "upstream closed the connection"
            self._broken.set()
            return BackendUnavailable("upstream closed the connection during the request")
        return BackendError(f"{what.replace('{code}', str(exc.error.code))}: {exc.error.message}")

    async def health(self) -> Health:
        failure = self.sign_in.failure if self.sign_in is not None else None
        if not self._connected.is_set():
            return Health(False, self._last_error)
        if failure:
            return Health(False, f"connected, but signing in again failed: {failure}")
        return Health(True, "connected")


def _page_of(
    fetch: Callable[[Client, str | None], Awaitable[Any]], cursor: str | None
) -> Callable[[Client], Awaitable[Any]]:
    """The request for one page, bound to its cursor now (not when the loop has moved on)."""
    return lambda client: fetch(client, cursor)
