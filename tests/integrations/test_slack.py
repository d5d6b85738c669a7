"""Slack interactive approvals end to end: the official MCP SDK client holds a call in the
real gateway, the approval message reaches a fake Slack Web API (a real local server),
and signed interaction payloads vote through the same ApprovalService as every channel."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.integrations.settings import IntegrationSettings, SlackSettings
from gateway.integrations.slack_signature import sign
from gateway.mcp.client import connect
from tests.support.approvals import approval_stack, digest, make_call, needs_approval
from tests.support.gateway import GatewayFactory, RunningGateway
from tests.support.slack import (
    BOT_TOKEN,
    CHANNEL,
    SIGNING_SECRET,
    FakeSlack,
    click,
    deny_submission,
    fake_slack,
    post_interaction,
    signed,
)

ARGS = {"a": 1000, "b": 101}
DIRECTORY = [
    {"slack_user": "U_ALICE", "subject": "alice", "roles": ["approver"]},
    {"email": "Bob@Example.com", "subject": "bob", "roles": ["approver"]},
    {"slack_user": "U_AGENT", "subject": "agent-1", "roles": ["approver"]},
    {"slack_user": "U_CAROL", "subject": "carol", "roles": ["viewer"]},
]


@pytest.fixture(autouse=True)
def approve_rule(policy_dir: Path) -> None:
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\np, tester, *, echo.add, approve, r.args.a > 100, 2 approver 1h\n")


@contextlib.asynccontextmanager
async def slack_gateway(
    echo_upstream: Any, start_gateway: GatewayFactory
) -> AsyncIterator[tuple[FakeSlack, RunningGateway]]:
    url, _ = echo_upstream
    async with fake_slack() as slack:
        integrations = {
            "slack": {
                "signing_secret": SIGNING_SECRET,
                "bot_token": BOT_TOKEN,
                "channel": CHANNEL,
                "api_url": slack.api_url,
                "argument_keys": ["a"],
            },
            "approvers": DIRECTORY,
            "backoff_seconds": 0.05,
        }
        slack.emails["U_BOB"] = "bob@example.com"
        connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
        async with start_gateway(
            connectors, integrations=integrations, approvals={"console_url": "https://gw.example"}
        ) as gw:
            yield slack, gw


async def interact(gw: RunningGateway, payload: dict[str, Any]) -> Any:
    response = await post_interaction(gw.url, *signed(payload))
    assert response.status_code == 200, response.text
    return response.json() if response.content else None


async def audit(gw: RunningGateway, kind: str) -> list[dict[str, Any]]:
    records = await gw.gateway.audit.store.latest(1000)
    return [dict(r.data) for r in records if r.kind == kind]


async def test_two_slack_approvers_release_the_call_and_the_message_follows(echo_upstream, start_gateway) -> None:
    async with slack_gateway(echo_upstream, start_gateway) as (slack, gw), connect(gw.mcp_url, gw.token()) as client:
        call = asyncio.create_task(client.call_tool("echo.add", ARGS))
        (posted,) = await slack.wait_for("chat.postMessage", 1)
        actions = posted["blocks"][-1]
        approval_id = actions["elements"][0]["value"]
        await interact(gw, click(slack, "U_ALICE", "approve", approval_id))
        (progress,) = await slack.wait_for("chat.update", 1)
        assert not call.done()
        await interact(gw, click(slack, "U_BOB", "approve", approval_id))
        result = await asyncio.wait_for(call, 10)
        updates = await slack.wait_for("chat.update", 3)
        interactions = await audit(gw, "slack.interaction")
        votes = await audit(gw, "approval.voted")
        approval_call = (await gw.gateway.approvals.get(approval_id)).approval.call_id
        records = await gw.gateway.audit.store.latest(1000)
        call_ids = {r.call_id for r in records if r.kind == "slack.interaction"}

    assert not result.is_error and result.content[0].text == "1101"
    assert posted["channel"] == CHANNEL
    assert posted["blocks"][0]["text"]["text"] == "Approval needed: echo.add"
    assert posted["blocks"][1]["text"]["text"].startswith("needs 2 approvals by approver (policy.csv:"), "the reason"
    fields = [f["text"] for f in posted["blocks"][1]["fields"]]
    assert fields[0] == "*Agent*\nagent-1" and fields[2] == "*Approvals*\n0 of 2 (approver)"
    assert fields[3].startswith("*Expires*\n<!date^"), "Slack renders the time left in the reader's zone"
    assert posted["blocks"][2]["text"]["text"] == "*a*: `1000`", "only the configured argument keys are shown"
    assert [e["action_id"] for e in actions["elements"]] == ["approve", "deny", "open_console"]
    assert actions["elements"][2]["url"] == f"https://gw.example/console#/approvals/{approval_id}"
    assert all(u["channel"] == CHANNEL and u["ts"] == "1700000000.000001" for u in updates)
    assert progress["blocks"][1]["fields"][2]["text"] == "*Approvals*\n1 of 2 (approver)", "updated in place"
    assert progress["blocks"][-1]["type"] == "actions", "buttons stay while the quorum is not met"
    final = updates[-1]
    assert final["blocks"][-1]["text"]["text"].startswith("*:white_check_mark: Approved*")
    assert "actions" not in [b["type"] for b in final["blocks"]], "no buttons once decided"
    assert ("users.info", {"user": "U_BOB"}, f"Bearer {BOT_TOKEN}") in slack.calls, "bob was found by e-mail"
    assert [(i["slack_user"], i["approver"], i["accepted"]) for i in interactions] == [
        ("U_ALICE", "alice", True),
        ("U_BOB", "bob", True),
    ]
    assert [v["approver"] for v in votes] == ["alice", "bob"]
    assert call_ids == {approval_call}, "the clicks are on the call's record trail"


async def test_deny_asks_for_a_comment_and_refusals_are_explained(echo_upstream, start_gateway) -> None:
    async with slack_gateway(echo_upstream, start_gateway) as (slack, gw), connect(gw.mcp_url, gw.token()) as client:
        call = asyncio.create_task(client.call_tool("echo.add", ARGS))
        (posted,) = await slack.wait_for("chat.postMessage", 1)
        approval_id = posted["blocks"][-1]["elements"][0]["value"]
        for user in ("U_AGENT", "U_CAROL", "U_MALLORY"):
            await interact(gw, click(slack, user, "approve", approval_id))
        async with asyncio.timeout(10):
            while len(slack.replies) < 3:
                await asyncio.sleep(0.02)
        await interact(gw, click(slack, "U_ALICE", "deny", approval_id))
        (opened,) = await slack.wait_for("views.open", 1)
        metadata = opened["view"]["private_metadata"]
        empty = await interact(gw, deny_submission("U_ALICE", metadata, None))
        assert not call.done()
        closed = await interact(gw, deny_submission("U_ALICE", metadata, "wrong account"))
        result = await asyncio.wait_for(call, 10)
        final = (await slack.wait_for("chat.update", 2))[-1]
        interactions = await audit(gw, "slack.interaction")

    assert [r["text"] for r in slack.replies] == [
        "Your approve was not counted: agent-1 requested this call and cannot vote on its own approval",
        # Approver roles are resolved per tenant: to carol, without one, the approval does not exist.
        f"Your approve was not counted: no approval with id {approval_id}",
        "Your approve was not counted: you are not in the gateway's approver directory",
    ]
    assert all(r["response_type"] == "ephemeral" and r["replace_original"] is False for r in slack.replies)
    assert opened["trigger_id"] == "trigger-U_ALICE-deny"
    assert opened["view"]["callback_id"] == "approval_deny"
    assert json.loads(metadata)["approval_id"] == approval_id
    assert empty == {"response_action": "errors", "errors": {"comment": empty["errors"]["comment"]}}
    assert "a deny needs a comment" in empty["errors"]["comment"]
    assert closed is None, "an empty 200 closes the modal"
    assert result.is_error and "denied by alice: wrong account" in result.content[0].text
    assert final["blocks"][-1]["text"]["text"].startswith("*:no_entry: Denied*")
    assert "Denied by alice: wrong account" in json.dumps(final)
    assert [(i["slack_user"], i["action"], i["accepted"]) for i in interactions] == [
        ("U_AGENT", "approve", False),
        ("U_CAROL", "approve", False),
        ("U_MALLORY", "approve", False),
        ("U_ALICE", "deny", True),
        ("U_ALICE", "deny_submitted", False),
        ("U_ALICE", "deny_submitted", True),
    ]


async def test_forged_replayed_stale_and_unsigned_requests_are_refused_and_audited(
    echo_upstream, start_gateway
) -> None:
    async with slack_gateway(echo_upstream, start_gateway) as (slack, gw), connect(gw.mcp_url, gw.token()) as client:
        call = asyncio.create_task(client.call_tool("echo.add", ARGS))
        (posted,) = await slack.wait_for("chat.postMessage", 1)
        approval_id = posted["blocks"][-1]["elements"][0]["value"]
        payload = click(slack, "U_ALICE", "approve", approval_id)
        body, headers = signed(payload)
        tampered = body.replace(b"U_ALICE", b"U_ALICF")
        attempts = {
            "forged secret": signed(payload, secret="not-the-signing-secret-0000000000"),
            "forged body": (tampered, headers),
            "stale": signed(payload, at=time.time() - 330),
            "future": signed(payload, at=time.time() + 330),
            "unsigned": (body, {"Content-Type": "application/x-www-form-urlencoded"}),
            "bad timestamp": (body, {**headers, "X-Slack-Request-Timestamp": "soon"}),
        }
        statuses = {name: (await post_interaction(gw.url, *request)).status_code for name, request in attempts.items()}
        first = await post_interaction(gw.url, body, headers)
        replayed = await post_interaction(gw.url, body, headers)
        malformed = await post_interaction(gw.url, *_signed_raw(b"payload=%7Bnot-json"))
        oversized = await post_interaction(gw.url, *_signed_raw(b"payload=" + b"x" * 70_000))
        await asyncio.sleep(0.2)
        refused = await audit(gw, "slack.request_refused")
        approval = (await gw.gateway.approvals.get(approval_id)).approval
        call.cancel()

    assert statuses == dict.fromkeys(attempts, 401)
    assert first.status_code == 200
    assert replayed.status_code == 401 and "already received" in replayed.json()["detail"]
    assert malformed.status_code == 400 and malformed.json()["detail"] == "the payload is not JSON"
    assert oversized.status_code == 413
    assert [r["reason"] for r in refused] == [
        "forged",
        "forged",
        "stale",
        "stale",
        "unsigned",
        "unsigned",
        "replayed",
        "malformed",
        "oversized",
    ]
    assert all(r["client"] == "127.0.0.1" for r in refused)
    assert [v.approver for v in approval.votes] == ["alice"], "only the one genuine click counted"


def _signed_raw(body: bytes) -> tuple[bytes, dict[str, str]]:
    timestamp = str(int(time.time()))
    return body, {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": sign(SIGNING_SECRET, timestamp, body),
    }


async def test_votes_from_the_api_update_the_slack_message_too(echo_upstream, start_gateway) -> None:
    async with slack_gateway(echo_upstream, start_gateway) as (slack, gw), connect(gw.mcp_url, gw.token()) as client:
        call = asyncio.create_task(client.call_tool("echo.add", ARGS))
        (posted,) = await slack.wait_for("chat.postMessage", 1)
        approval_id = posted["blocks"][-1]["elements"][0]["value"]
        async with httpx.AsyncClient(base_url=gw.url) as http:
            for subject in ("dave", "erin"):
                headers = {"Authorization": f"Bearer {gw.token(subject, ('approver',))}"}
                response = await http.post(f"/v1/approvals/{approval_id}/approve", json={}, headers=headers)
                assert response.status_code == 200, response.text
        await asyncio.wait_for(call, 10)
        final = (await slack.wait_for("chat.update", 3))[-1]
        async with asyncio.timeout(10):
            while len(sent := await audit(gw, "notification.sent")) < 4:  # audited after Slack answered
                await asyncio.sleep(0.02)
    assert final["ts"] == "1700000000.000001"
    assert final["blocks"][-1]["text"]["text"].startswith("*:white_check_mark: Approved*")
    assert "Approved by dave" in json.dumps(final) and "Approved by erin" in json.dumps(final)
    assert [(s["event"], s["details"]["method"]) for s in sent] == [
        ("requested", "chat.postMessage"),
        ("voted", "chat.update"),
        ("voted", "chat.update"),
        ("decided", "chat.update"),
    ]


async def test_a_bad_bot_token_is_audited_as_failed_without_retries(echo_upstream, start_gateway) -> None:
    url, _ = echo_upstream
    async with fake_slack() as slack:
        integrations = {"slack": {"signing_secret": SIGNING_SECRET, "bot_token": "xoxb-revoked", "channel": CHANNEL,
                                  "api_url": slack.api_url}, "backoff_seconds": 0.05}  # fmt: skip
        connectors = {"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}
        async with start_gateway(connectors, integrations=integrations) as gw:
            async with httpx.AsyncClient(base_url=gw.url, headers={"Authorization": f"Bearer {gw.token()}"}) as http:
                response = await http.post("/v1/tools/echo.add:call", json=ARGS, headers={"Prefer": "respond-async"})
            async with asyncio.timeout(10):
                while not (failed := await audit(gw, "notification.failed")):
                    await asyncio.sleep(0.02)
    assert response.status_code == 202, response.text
    assert [(f["channel"], f["attempt"], f["error"]) for f in failed] == [
        ("slack", 1, "chat.postMessage: invalid_auth")
    ]
    assert slack.methods() == ["chat.postMessage"]


async def test_an_expired_approval_shows_as_expired_in_slack(tmp_path: Path) -> None:
    async with fake_slack() as slack:
        slack_settings = SlackSettings(
            signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, channel=CHANNEL, api_url=slack.api_url
        )
        async with approval_stack(tmp_path, IntegrationSettings(slack=slack_settings)) as stack:
            call = make_call()
            await stack.service.hold(call, needs_approval(1, ttl=0.3), digest(call), wait_seconds=0)
            (posted,) = await slack.wait_for("chat.postMessage", 1)
            (expired,) = await slack.wait_for("chat.update", 1)
    assert posted["blocks"][-1]["type"] == "actions"
    assert expired["ts"] == "1700000000.000001"
    assert expired["blocks"][-1]["text"]["text"] == "*:hourglass: Expired without a decision*"
    assert expired["text"].endswith("(expired)")
