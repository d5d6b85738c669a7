"""One agent acting for two people, through the gateway with the official MCP SDK client:
the gateway exchanges each person's token at oidc-provider for one whose audience is SAP,
the SAP stub verifies it through the IdP's keys and applies that person's authorizations,
so the same call is released for one and refused with SAP's own message for the other.
The audit log names the backend identity used, and no token is written anywhere."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette

from connectors.sap import stub as sap_stub
from connectors.sap.stub import SapUser
from connectors.stub_tokens import StubTokens
from gateway.audit import read_records
from gateway.mcp.client import connect
from gateway.serving import free_port, running
from tests.connectors.auth.conftest import AGENT_CLIENT, GATEWAY_CLIENT, SAP_AUDIENCE, exchange_auth, person_token
from tests.support.gateway import RunningGateway
from tests.support.oidc_idp import Idp

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
#: Company code 2000: alice may release there, bob may not.
US_ORDER = {"purchase_order_id": "4500000006"}
USERS = {
    "alice": SapUser("ALICE", frozenset({"1010", "2000"})),
    "bob": SapUser("BOB", frozenset({"1010"})),
}


@pytest.fixture
async def sap(idp: Idp) -> AsyncIterator[tuple[str, Starlette]]:
    app = sap_stub.create_app(
        username="gateway", password="s3cret", tokens=StubTokens(idp.issuer, SAP_AUDIENCE), users=USERS
    )
    async with running(app) as url:
        yield url + SERVICE, app


@pytest.fixture
async def gw(idp: Idp, sap: tuple[str, Starlette], start_acting_gateway) -> AsyncIterator[RunningGateway]:
    stanza = {"kind": "sap", "url": sap[0], "auth": exchange_auth(idp, SAP_AUDIENCE), "timeout_seconds": 5}
    async with start_acting_gateway({"sap": stanza}, approvals={"max_hold_seconds": 60}) as running_gateway:
        yield running_gateway


def _records(gw: RunningGateway, kind: str) -> list[dict]:
    return [dict(r.data) for r in read_records(gw.config.audit.database) if r.kind == kind]


def _backend_bearers(app: Starlette) -> set[str]:
    """The tokens SAP was shown (health probes, made for nobody, carry none)."""
    return {
        r.headers["authorization"].removeprefix("Bearer ") for r in app.state.requests if "authorization" in r.headers
    }


async def test_one_agent_for_two_people_gets_two_answers_from_sap(
    idp: Idp, gw: RunningGateway, sap: tuple[str, Starlette], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bob = await person_token(idp, "bob", gw.mcp_url, roles=("purchasing-clerk",))
    alice = await person_token(idp, "alice", gw.mcp_url, roles=("purchasing-clerk",))
    async with connect(gw.mcp_url, bob) as client:
        refused = await client.call_tool("sap.release_purchase_order", US_ORDER)
    async with connect(gw.mcp_url, alice) as client:
        released = await client.call_tool("sap.release_purchase_order", US_ORDER)

    assert refused.is_error
    assert refused.content[0].text == (
        "backend 'sap' failed: User BOB has no release authorization for purchase orders in company code 2000 "
        "(authorization object M_EINK_FRG) (HTTP 403)"
    )
    assert not released.is_error, released.content[0].text
    assert released.structured_content["purchase_order"]["ReleaseStatus"] == "RELEASED"

    # SAP saw each person through a token issued for SAP; never an agent's own token.
    exchanged = _backend_bearers(sap[1])
    assert len(exchanged) == 2 and not exchanged & {alice, bob}
    assert await idp.exchanges() == 2  # one per person: the CSRF fetch and the POST share it

    completed = _records(gw, "call.completed")
    identities = [c["backend_identity"] for c in completed]
    assert [(i["kind"], i["subject"], i["audience"]) for i in identities] == [
        ("token_exchange", "bob", SAP_AUDIENCE),
        ("token_exchange", "alice", SAP_AUDIENCE),
    ]
    assert all(re.fullmatch(r"[0-9a-f-]{36}", i["jti"]) for i in identities)
    received = _records(gw, "call.received")
    assert [(r["principal"]["subject"], r["principal"]["client"]) for r in received] == [
        ("bob", AGENT_CLIENT),
        ("alice", AGENT_CLIENT),
    ]
    # No token, the agents' or the exchanged ones, in the audit log or the logs.
    audit_text = json.dumps([r.data for r in read_records(gw.config.audit.database)])
    for token in (alice, bob, *exchanged):
        assert token not in audit_text and token not in caplog.text
        assert token.split(".")[2] not in audit_text + caplog.text  # not even the signature


async def test_the_rest_front_door_acts_for_its_caller_too(idp: Idp, gw: RunningGateway) -> None:
    bob = await person_token(idp, "bob", gw.mcp_url, roles=("purchasing-clerk",))
    async with httpx.AsyncClient(base_url=gw.url, headers={"Authorization": f"Bearer {bob}"}) as http:
        response = await http.post("/v1/tools/sap.release_purchase_order:call", json=US_ORDER)
    assert response.status_code == 502, response.text
    assert "User BOB has no release authorization" in response.json()["detail"]
    assert _records(gw, "call.completed")[-1]["backend_identity"]["subject"] == "bob"


async def test_a_refused_exchange_reaches_the_agent_and_the_audit(
    idp: Idp, sap: tuple[str, Starlette], start_acting_gateway
) -> None:
    auth = exchange_auth(idp, "https://sap.example.com/not-registered")
    stanza = {"kind": "sap", "url": sap[0], "auth": auth, "timeout_seconds": 5}
    async with start_acting_gateway({"sap": stanza}) as gw:
        alice = await person_token(idp, "alice", gw.mcp_url, roles=("purchasing-clerk",))
        async with connect(gw.mcp_url, alice) as client:
            refused = await client.call_tool("sap.release_purchase_order", US_ORDER)
        (completed,) = _records(gw, "call.completed")
    message = refused.content[0].text
    assert refused.is_error and message.startswith("backend 'sap' failed: the identity provider at 127.0.0.1:")
    assert "refused to exchange the caller's token for audience https://sap.example.com/not-registered" in message
    assert "invalid_target" in message
    assert completed["status"] == "error" and completed["error"] == message
    assert "backend_identity" not in completed
    assert _backend_bearers(sap[1]) == set()  # nothing reached SAP as anyone


async def test_an_unreachable_identity_provider_is_a_clear_failure(
    idp: Idp, sap: tuple[str, Starlette], start_acting_gateway
) -> None:
    auth = exchange_auth(idp, SAP_AUDIENCE, token_url=f"http://127.0.0.1:{free_port()}/token")
    stanza = {"kind": "sap", "url": sap[0], "auth": auth, "timeout_seconds": 5, "retries": 0}
    async with start_acting_gateway({"sap": stanza}) as gw:
        alice = await person_token(idp, "alice", gw.mcp_url, roles=("purchasing-clerk",))
        async with connect(gw.mcp_url, alice) as client:
            refused = await client.call_tool("sap.release_purchase_order", US_ORDER)
        (completed,) = _records(gw, "call.completed")
    assert refused.is_error
    assert re.fullmatch(
        r"backend 'sap' is unavailable: the identity provider at 127\.0\.0\.1:\d+ could not be reached to exchange "
        r"the caller's token for audience \S+ \(ConnectError\)",
        refused.content[0].text,
    )
    assert completed["error"] == refused.content[0].text
    assert _backend_bearers(sap[1]) == set()


async def test_a_held_call_runs_under_the_token_of_the_call_that_executes_it(
    idp: Idp, gw: RunningGateway, sap: tuple[str, Starlette]
) -> None:
    """A blocking call for a backend that acts for the caller stops waiting before the
    caller's token expires (answering "pending"); the retry with a fresh token, after the
    approval, executes it under that token."""
    short = await person_token(idp, "alice", gw.mcp_url, roles=("procurement-agent",), ttl=18)
    async with connect(gw.mcp_url, short) as client:
        pending = await client.call_tool("sap.release_purchase_order", US_ORDER)
    assert pending.is_error and "needs 1 approval by finance-approver" in pending.content[0].text
    match = re.search(r"\(id (apr_[0-9a-f]+)\)", pending.content[0].text)
    assert match is not None and _backend_bearers(sap[1]) == set()
    approver = gw.token("fiona", ("finance-approver",))
    async with httpx.AsyncClient(base_url=gw.url, headers={"Authorization": f"Bearer {approver}"}) as http:
        voted = await http.post(f"/v1/approvals/{match[1]}/approve", json={"comment": "budgeted"})
    assert voted.status_code == 200, voted.text
    fresh = await person_token(idp, "alice", gw.mcp_url, roles=("procurement-agent",))
    async with connect(gw.mcp_url, fresh) as client:
        executed = await client.call_tool("sap.release_purchase_order", US_ORDER)
    assert not executed.is_error, executed.content[0].text
    assert executed.structured_content["purchase_order"]["ReleaseStatus"] == "RELEASED"
    completed = _records(gw, "call.completed")[-1]
    assert completed["approval_id"] == match[1] and completed["backend_identity"]["subject"] == "alice"
    assert GATEWAY_CLIENT  # the exchanged token's actor (checked in test_token_exchange)
