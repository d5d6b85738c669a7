"""MCP without the SDK: for requests the SDK's client refuses to build (an attacker's)."""

from __future__ import annotations

import json
from typing import Any

import httpx

INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "raw", "version": "1"}},
}


def _message(response: httpx.Response) -> dict[str, Any]:
    """The JSON-RPC message of a response, sent as JSON or as one SSE event."""
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        data = [line[5:].strip() for line in response.text.splitlines() if line.startswith("data:")]
        return json.loads(data[-1])
    return response.json()


async def raw_mcp_request(mcp_url: str, token: str, body: str) -> tuple[int, dict[str, Any]]:
    """Open a session, send `body` (JSON-RPC text) in it; the HTTP status and the answer."""
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json, text/event-stream"}
    async with httpx.AsyncClient(headers=headers, timeout=30) as http:
        opened = await http.post(mcp_url, json=INITIALIZE)
        assert opened.status_code == 200, opened.text
        session = {"mcp-session-id": opened.headers["mcp-session-id"], "mcp-protocol-version": "2025-06-18"}
        await http.post(mcp_url, json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=session)
        answered = await http.post(
            mcp_url, content=body.encode(), headers={**session, "content-type": "application/json"}
        )
        return answered.status_code, _message(answered)
