"""A fake Slack: a real local HTTP server standing in for the Web API (it records every
request and answers like Slack), and a client that signs interaction payloads exactly as
Slack documents (form field `payload`, `v0` HMAC-SHA256 over `v0:timestamp:body`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.integrations.slack_signature import sign
from gateway.serving import running

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT_TOKEN = "xoxb-test-token"
CHANNEL = "C0APPROVALS"


@dataclass
class FakeSlack:
    url: str = ""
    #: (method, JSON body or query, Authorization header) of every Web API request.
    calls: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    #: Bodies POSTed to response_urls.
    replies: list[dict[str, Any]] = field(default_factory=list)
    emails: dict[str, str] = field(default_factory=dict)
    _next_ts: int = 0

    @property
    def api_url(self) -> str:
        return f"{self.url}/api"

    def response_url(self) -> str:
        return f"{self.url}/actions/T0/123/response-secret"

    def methods(self) -> list[str]:
        return [m for m, _, _ in self.calls]

    def bodies(self, method: str) -> list[dict[str, Any]]:
        return [b for m, b, _ in self.calls if m == method]

    async def wait_for(self, method: str, count: int) -> list[dict[str, Any]]:
        async with asyncio.timeout(10):
            while len(self.bodies(method)) < count:
                await asyncio.sleep(0.02)
        return self.bodies(method)

    async def api(self, request: Request) -> JSONResponse:
        method = request.path_params["method"]
        body = dict(request.query_params) if request.method == "GET" else await request.json()
        self.calls.append((method, body, request.headers.get("authorization")))
        if request.headers.get("authorization") != f"Bearer {BOT_TOKEN}":
            return JSONResponse({"ok": False, "error": "invalid_auth"})
        if method == "chat.postMessage":
            self._next_ts += 1
            return JSONResponse({"ok": True, "channel": body["channel"], "ts": f"1700000000.{self._next_ts:06d}"})
        if method == "users.info":
            email = self.emails.get(body.get("user", ""))
            if email is None:
                return JSONResponse({"ok": False, "error": "user_not_found"})
            return JSONResponse({"ok": True, "user": {"id": body["user"], "profile": {"email": email}}})
        return JSONResponse({"ok": True})

    async def response(self, request: Request) -> JSONResponse:
        self.replies.append(await request.json())
        return JSONResponse({"ok": True})


@contextlib.asynccontextmanager
async def fake_slack() -> AsyncIterator[FakeSlack]:
    slack = FakeSlack()
    app = Starlette(
        routes=[
            Route("/api/{method}", slack.api, methods=["GET", "POST"]),
            Route("/actions/{path:path}", slack.response, methods=["POST"]),
        ]
    )
    async with running(app) as url:
        slack.url = url
        yield slack


def signed(
    payload: dict[str, Any], *, secret: str = SIGNING_SECRET, at: float | None = None
) -> tuple[bytes, dict[str, str]]:
    """The body and headers Slack would send for this interaction."""
    body = urlencode({"payload": json.dumps(payload)}).encode()
    timestamp = str(int(time.time() if at is None else at))
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(secret, timestamp, body),
    }


def click(slack: FakeSlack, user: str, action: str, approval_id: str, ts: str = "1700000000.000001") -> dict[str, Any]:
    return {
        "type": "block_actions",
        "user": {"id": user, "username": user.lower(), "team_id": "T0"},
        "api_app_id": "A0",
        "trigger_id": f"trigger-{user}-{action}",
        "response_url": slack.response_url(),
        "container": {"type": "message", "channel_id": CHANNEL, "message_ts": ts},
        "channel": {"id": CHANNEL},
        "actions": [{"type": "button", "action_id": action, "block_id": "approval_actions", "value": approval_id}],
    }


def deny_submission(user: str, private_metadata: str, comment: str | None) -> dict[str, Any]:
    values = {"comment": {"comment_input": {"type": "plain_text_input", "value": comment}}}
    return {
        "type": "view_submission",
        "user": {"id": user},
        "view": {"callback_id": "approval_deny", "private_metadata": private_metadata, "state": {"values": values}},
    }


async def post_interaction(gateway_url: str, body: bytes, headers: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient() as http:
        return await http.post(f"{gateway_url}/v1/integrations/slack/interactions", content=body, headers=headers)
