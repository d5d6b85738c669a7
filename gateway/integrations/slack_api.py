"""The few Slack Web API methods the gateway uses, over one long-lived HTTP client.

Slack answers HTTP 200 with `{"ok": false, "error": ...}` for most failures; rate limits
are HTTP 429 with Retry-After. Errors that asking again cannot fix are not retryable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from gateway.integrations.delivery import DeliveryError

#: Slack errors worth retrying; anything else (invalid_auth, channel_not_found...) is final.
_TRANSIENT = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}


class SlackApi:
    def __init__(self, api_url: str, bot_token: str, timeout_seconds: float) -> None:
        self._base = api_url.rstrip("/")
        self._client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {bot_token}"}, timeout=timeout_seconds, follow_redirects=False
        )

    async def call(self, method: str, body: Mapping[str, Any], *, query: bool = False) -> dict[str, Any]:
        """POST a JSON body to `method` (read methods: GET with `body` as the query); the
        parsed answer when ok, else DeliveryError."""
        url = f"{self._base}/{method}"
        try:
            if query:
                response = await self._client.get(url, params=dict(body))
            else:
                response = await self._client.post(url, json=dict(body))
        except httpx.HTTPError as exc:
            raise DeliveryError(f"{method}: {type(exc).__name__}: {exc}") from None
        if response.status_code == 429 or response.is_server_error:
            raise DeliveryError(f"{method}: HTTP {response.status_code}")
        try:
            data = response.json()
        except ValueError:
            raise DeliveryError(f"{method}: HTTP {response.status_code}, not JSON", retryable=False) from None
        if not isinstance(data, dict) or data.get("ok") is not True:
            error = data.get("error", "unknown") if isinstance(data, dict) else "unknown"
            raise DeliveryError(f"{method}: {error}", retryable=error in _TRANSIENT)
        return data

    async def respond(self, response_url: str, body: Mapping[str, Any]) -> None:
        """Answer an interaction through its response_url (no token: the URL is the credential)."""
        try:
            response = await self._client.post(response_url, json=dict(body), headers={"Authorization": ""})
        except httpx.HTTPError as exc:
            raise DeliveryError(f"response_url: {type(exc).__name__}: {exc}") from None
        if not response.is_success:
            raise DeliveryError(f"response_url: HTTP {response.status_code}")

    async def user_email(self, user_id: str) -> str | None:
        data = await self.call("users.info", {"user": user_id}, query=True)
        email = data.get("user", {}).get("profile", {}).get("email")
        return email if isinstance(email, str) else None

    async def close(self) -> None:
        await self._client.aclose()
