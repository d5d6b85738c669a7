"""The long-lived HTTP client of an HTTP-speaking connector, and the error mapping they share.

Each request carries the credential of the stanza's `auth` section (connectors.auth): the
gateway's own, or for `token_exchange` one issued for the caller; never the agent's own
token. The backend identity used is noted in the call's context for the audit record. The
W3C traceparent always travels so the backend's logs line up with the gateway's audit.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import httpx

from connectors.auth import BackendAuth, Credential
from connectors.base import BackendError, BackendUnavailable, CallContext, Health
from connectors.options import ConnectorOptions
from connectors.tls import client_context, tls_failure
from gateway.config import ConnectorSettings
from gateway.models import ToolResult, ToolSpec

#: Statuses that mean "the backend is not there right now" rather than "the call is wrong".
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


class HttpBackend:
    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        base_url: str,
        auth: BackendAuth | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.name = settings.name
        self.base_url = base_url.rstrip("/")
        self._timeout = settings.timeout_seconds
        options = ConnectorOptions.common(settings)
        self._on_behalf_of = options.on_behalf_of_header
        self._auth = auth
        self._headers = dict(headers or {})
        self._max_connections = options.max_concurrency
        #: Every https:// request of this backend: its `tls:` options, or the system's trust store.
        self._tls = client_context(options.tls)
        self._client: httpx.AsyncClient | None = None

    @property
    def acts_for_caller(self) -> bool:
        """Each call reaches the backend as its caller (token exchange), not as one technical user."""
        return self._auth is not None and self._auth.acts_for_caller

    async def start(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                base_url=self.base_url,
                headers={"accept": "application/json", **self._headers},
                timeout=httpx.Timeout(self._timeout),
                limits=httpx.Limits(max_connections=self._max_connections),
                verify=self._tls,
            )

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._auth is not None:
            await self._auth.close()

    def _call_headers(
        self, context: CallContext | None, extra: Mapping[str, str] | None, credential: Credential | None
    ) -> dict[str, str]:
        headers = dict(extra or {})
        if credential is not None:
            headers.update(credential.headers)
        if context is not None:
            if context.traceparent:
                headers["traceparent"] = context.traceparent
            if self._on_behalf_of:
                headers[self._on_behalf_of] = context.principal.subject
        return headers

    async def send(
        self,
        method: str,
        url: str,
        context: CallContext | None,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One request with this call's credential; a 401 to a credential that can be renewed
        (an expired token) is sent once more with a fresh one, as the backend did nothing.
        Transport failures become BackendUnavailable, statuses are the caller's."""
        credential = await self._credential(context)
        response = await self._request(method, url, context, credential, params, json, content, headers)
        if response.status_code == 401 and credential is not None and self._auth and self._auth.rejected(credential):
            credential = await self._credential(context)
            response = await self._request(method, url, context, credential, params, json, content, headers)
        return response

    async def _credential(self, context: CallContext | None) -> Credential | None:
        if self._auth is None:
            return None
        credential = await self._auth.credential(context)
        if context is not None and credential is not None:
            context.backend.identity = credential.identity
        return credential

    async def _request(
        self,
        method: str,
        url: str,
        context: CallContext | None,
        credential: Credential | None,
        params: Mapping[str, Any] | None,
        json: Any,
        content: bytes | None,
        headers: Mapping[str, str] | None,
    ) -> httpx.Response:
        if self._client is None:
            raise BackendUnavailable("connector is not started")
        try:
            return await self._client.request(
                method,
                url,
                params=params,
                json=json,
                content=content,
                headers=self._call_headers(context, headers, credential),
            )
        except httpx.TimeoutException:
            raise BackendUnavailable(f"backend did not answer within {self._timeout:g} s") from None
        except httpx.TransportError as exc:
            tls = self._tls if exc.request.url.scheme == "https" else None
            failure = tls_failure(exc, tls) or f"backend unreachable ({type(exc).__name__})"
            raise BackendUnavailable(failure) from None

    def fail(self, response: httpx.Response, message: str) -> BackendError:
        """The error for a non-success answer; `message` is what the backend said, for the agent."""
        if response.status_code in UNAVAILABLE_STATUSES:
            return BackendUnavailable(f"backend unavailable (HTTP {response.status_code})")
        if response.status_code == 401:
            return BackendError("backend rejected the credential the gateway presented (HTTP 401)")
        return BackendError(f"{message} (HTTP {response.status_code})")

    async def probe(self, url: str) -> Health:
        try:
            response = await self.send("GET", url, None)
        except BackendError as exc:  # down, or no credential (the token endpoint refused us)
            return Health(False, str(exc))
        if response.status_code >= 500:
            return Health(False, f"backend answered HTTP {response.status_code}")
        return Health(True, f"backend answered HTTP {response.status_code}")


def json_body(response: httpx.Response) -> Any:
    """The JSON body, or None when the backend sent something else (an HTML error page)."""
    try:
        return response.json()
    except ValueError:
        return None


Handler = Callable[[Mapping[str, Any], CallContext], Awaitable[ToolResult]]


class HttpToolConnector:
    """A connector whose tools are methods over one HttpBackend: start, close, tools and
    dispatch are the same for all of them; subclasses set the four attributes."""

    name: str
    _http: HttpBackend
    _tools: list[ToolSpec]
    _handlers: dict[str, Handler]

    @property
    def acts_for_caller(self) -> bool:
        return self._http.acts_for_caller

    async def start(self) -> None:
        await self._http.start()

    async def close(self) -> None:
        await self._http.close()

    async def tools(self) -> list[ToolSpec]:
        return list(self._tools)

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        handler = self._handlers.get(tool)
        if handler is None:
            raise BackendError(f"unknown tool {tool!r}")
        return await handler(arguments, context)
