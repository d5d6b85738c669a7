"""OAuth2 client credentials for ORDS, as an httpx auth flow: the first request fetches a
token, later ones reuse it, and a 401 (token expired or revoked) fetches a new one once."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import httpx

from connectors.base import BackendError


class ClientCredentials(httpx.Auth):
    def __init__(self, token_url: str, client_id: str, client_secret: str, connector: str) -> None:
        self._token_url = token_url
        self._basic = httpx.BasicAuth(client_id, client_secret)
        self._connector = connector
        self._token: str | None = None

    def _token_request(self) -> httpx.Request:
        request = httpx.Request("POST", self._token_url, data={"grant_type": "client_credentials"})
        return next(self._basic.auth_flow(request))

    async def _take_token(self, response: httpx.Response) -> str:
        await response.aread()
        try:
            token = response.json()["access_token"] if response.status_code == 200 else None
        except (ValueError, KeyError, TypeError):
            token = None
        if not isinstance(token, str) or not token:
            raise BackendError(
                f"{self._connector}: the token endpoint refused the gateway's client credentials "
                f"(HTTP {response.status_code})"
            )
        return token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        if self._token is None:
            self._token = await self._take_token((yield self._token_request()))
        request.headers["authorization"] = f"Bearer {self._token}"
        response = yield request
        if response.status_code == 401:
            self._token = await self._take_token((yield self._token_request()))
            request.headers["authorization"] = f"Bearer {self._token}"
            yield request
