"""#11 finding 9: an MCP session was bound to the subject and issuer of the token that
opened it, so a token of the same subject in another tenant (or issued to another client)
could use it. Now a session serves only the whole principal that opened it: issuer,
subject, tenant and client. Any other gets 404, as if the session did not exist."""

from __future__ import annotations

from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from starlette.applications import Starlette

from tests.support.gateway import RunningGateway

POLICY = "p, tester, *, up.*, allow, true, -\n"
PING = {"jsonrpc": "2.0", "id": 7, "method": "ping"}


async def hijack(gw: RunningGateway, session_id: str, token: str) -> httpx.Response:
    headers = {
        "Authorization": f"Bearer {token}",
        "Accept": "application/json, text/event-stream",
        "Mcp-Session-Id": session_id,
        "Mcp-Protocol-Version": "2025-06-18",
    }
    async with httpx.AsyncClient() as http:
        return await http.post(gw.mcp_url, json=PING, headers=headers)


@pytest.mark.parametrize(
    ("victim", "attacker"),
    [
        ({"tenant": "acme"}, {"tenant": "globex"}),
        ({"tenant": "acme"}, {}),
        ({"tenant": "acme", "extra": {"client_id": "buyer-bot"}}, {"tenant": "acme", "extra": {"client_id": "other"}}),
        ({"extra": {"azp": "buyer-bot"}}, {}),
    ],
    ids=["other-tenant", "no-tenant", "other-client", "no-client"],
)
async def test_a_session_serves_only_the_principal_that_opened_it(
    payments: tuple[RunningGateway, Starlette], victim: dict[str, Any], attacker: dict[str, Any]
) -> None:
    gw, _ = payments
    sessions: list[str] = []

    async def note_session(response: httpx2.Response) -> None:
        if "mcp-session-id" in response.headers:
            sessions.append(response.headers["mcp-session-id"])

    owner = gw.token("agent-1", **victim)
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {owner}"}, event_hooks={"response": [note_session]})
    async with http, Client(streamable_http_client(gw.mcp_url, http_client=http), mode="legacy", cache=None) as c:
        await c.list_tools()
        session_id = sessions[-1]
        # The same subject and issuer, but somebody else: the session is not theirs.
        stolen = await hijack(gw, session_id, gw.token("agent-1", **attacker))
        assert stolen.status_code == 404, stolen.text
        assert "Session not found" in stolen.text
        # The owner's own token still reaches it, and the owner's session still works.
        assert (await hijack(gw, session_id, gw.token("agent-1", **victim))).status_code == 200
        assert (await c.call_tool("up.noop", {})).content[0].text == "ok"
