"""The approvers' REST API over a real server, with real JWTs and a real audit log."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.approvals import AGENT, Stack, approval_stack, digest, make_call, needs_approval, token


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[Stack]:
    async with approval_stack(tmp_path) as stack:
        yield stack


def bearer(subject: str, *roles: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token(subject, roles or ('approver',))}"}


async def held(stack: Stack, arguments: dict | None = None, required: int = 2) -> str:
    call = make_call(arguments)
    outcome = await stack.service.hold(call, needs_approval(required), digest(call), wait_seconds=0)
    return outcome.approval.approval_id


async def test_list_show_approve_and_history(stack: Stack) -> None:
    first = await held(stack, {"amount": 1})
    second = await held(stack, {"amount": 2})
    async with httpx.AsyncClient(base_url=stack.url, headers=bearer("alice")) as client:
        listing = (await client.get("/v1/approvals")).json()
        assert [a["approval_id"] for a in listing["approvals"]] == [second, first]
        assert "arguments" not in listing["approvals"][0]
        shown = await client.get(f"/v1/approvals/{first}")
        assert shown.status_code == 200
        body = shown.json()["approval"]
        assert body["arguments"] == {"amount": 1}
        assert (body["rule"], body["policy_version"], body["approver_role"]) == (
            "policies/finance.csv:3",
            "v1",
            "approver",
        )
        assert body["requester"]["subject"] == AGENT.subject

        voted = await client.post(f"/v1/approvals/{first}/approve", json={"comment": "fine"})
        assert voted.status_code == 200
        assert voted.json()["approval"]["approvals"] == 1
        bob = bearer("bob")
        decided = await client.post(f"/v1/approvals/{first}/approve", json={}, headers=bob)
        assert decided.json()["approval"]["state"] == "approved"

        pending = (await client.get("/v1/approvals")).json()["approvals"]
        assert [a["approval_id"] for a in pending] == [second]
        history = (await client.get("/v1/approvals", params={"state": "decided"})).json()["approvals"]
        assert [(a["approval_id"], a["state"]) for a in history] == [(first, "approved")]
        assert [v["approver"] for v in history[0]["votes"]] == ["alice", "bob"]
    assert await stack.audit_kinds() == [
        "approval.requested",
        "approval.requested",
        "approval.voted",
        "approval.voted",
        "approval.decided",
    ]


async def test_filters(stack: Stack) -> None:
    await held(stack, {"amount": 1})
    other = make_call({"amount": 3}, principal=AGENT.__class__(subject="agent-9", roles=("agent",)))
    await stack.service.hold(other, needs_approval(), digest(other), wait_seconds=0)
    async with httpx.AsyncClient(base_url=stack.url, headers=bearer("alice")) as client:
        by_agent = (await client.get("/v1/approvals", params={"agent": "agent-9"})).json()["approvals"]
        assert [a["requester"]["subject"] for a in by_agent] == ["agent-9"]
        assert (
            len(
                (await client.get("/v1/approvals", params={"connector": "sap", "tool": "transfer"})).json()["approvals"]
            )
            == 2
        )
        assert (await client.get("/v1/approvals", params={"tool": "other"})).json()["approvals"] == []


async def test_deny_with_comment_reaches_the_waiting_call(stack: Stack) -> None:
    call = make_call()
    waiting = asyncio.create_task(stack.service.hold(call, needs_approval(2), digest(call), wait_seconds=10))
    async with httpx.AsyncClient(base_url=stack.url, headers=bearer("alice")) as client:
        async with asyncio.timeout(5):
            while not (items := (await client.get("/v1/approvals")).json()["approvals"]):
                await asyncio.sleep(0.02)
        approval_id = items[0]["approval_id"]
        no_comment = await client.post(f"/v1/approvals/{approval_id}/deny")
        assert no_comment.status_code == 400
        assert "a deny needs a comment" in no_comment.json()["detail"]
        denied = await client.post(f"/v1/approvals/{approval_id}/deny", json={"comment": "not this quarter"})
        assert denied.status_code == 200
        body = denied.json()["approval"]
        assert (body["state"], body["reason"]) == ("denied", "denied by alice: not this quarter")
    outcome = await asyncio.wait_for(waiting, 2)
    assert outcome.action == "denied"


@pytest.mark.parametrize(
    ("headers", "status", "detail"),
    [
        ({}, 401, "missing bearer token"),
        ({"Authorization": "Bearer not-a-jwt"}, 401, "invalid token"),
        (
            {"Authorization": f"Bearer {token('alice', secret='x' * 40)}"},
            401,
            "invalid token: Signature verification failed",
        ),
        (bearer("mallory", "viewer"), 403, "requires one of the approver roles: approver"),
    ],
)
async def test_unauthorized_approvers_are_refused(stack: Stack, headers: dict, status: int, detail: str) -> None:
    approval_id = await held(stack)
    async with httpx.AsyncClient(base_url=stack.url, headers=headers) as client:
        for response in (
            await client.get("/v1/approvals"),
            await client.post(f"/v1/approvals/{approval_id}/approve", json={"comment": "let me"}),
        ):
            assert response.status_code == status
            assert response.headers["content-type"] == "application/problem+json"
            assert response.json()["detail"].startswith(detail)
            if status == 401:
                assert response.headers["www-authenticate"].startswith('Bearer realm="agent-gateway"')
    stored = await stack.service.get(approval_id)
    assert stored.approval.votes == ()


async def test_precise_errors(stack: Stack) -> None:
    approval_id = await held(stack, required=1)
    async with httpx.AsyncClient(base_url=stack.url, headers=bearer("alice")) as client:
        cases = [
            (await client.get("/v1/approvals/apr_missing"), 404, "no approval with id apr_missing"),
            (await client.get("/v1/approvals", params={"state": "maybe"}), 400, "query parameter 'state' must be"),
            (
                await client.get("/v1/approvals", params={"limit": "x"}),
                400,
                "query parameter 'limit' must be an integer",
            ),
            (await client.get("/v1/approvals", params={"colour": "red"}), 400, "unknown query parameter(s): colour"),
            (
                await client.get("/v1/approvals", params={"order": "random"}),
                400,
                "query parameter 'order' must be newest or oldest, got 'random'",
            ),
            (
                await client.get("/v1/approvals", params={"cursor": "yesterday"}),
                400,
                "query parameter 'cursor' is not a cursor this API returned: 'yesterday'",
            ),
            (
                await client.post(
                    f"/v1/approvals/{approval_id}/approve",
                    content=b"comment=hi",
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                ),
                415,
                "the request body must be application/json",
            ),
            (
                await client.post(
                    f"/v1/approvals/{approval_id}/approve",
                    content=b"{nope",
                    headers={"Content-Type": "application/json"},
                ),
                400,
                "the request body is not valid JSON",
            ),
            (await client.post(f"/v1/approvals/{approval_id}/approve", json=[1]), 400, "must be a JSON object"),
            (await client.post(f"/v1/approvals/{approval_id}/approve", json={"comment": 5}), 400, "'comment' must be"),
            (await client.post(f"/v1/approvals/{approval_id}/approve", json={"vote": 1}), 400, "unknown field(s)"),
            (
                await client.post(f"/v1/approvals/{approval_id}/approve", headers=bearer(AGENT.subject)),
                403,
                "agent-7 requested this call and cannot vote on its own approval",
            ),
        ]
        for response, status, detail in cases:
            assert response.status_code == status, response.text
            assert detail in response.json()["detail"], response.text
        assert (await client.post(f"/v1/approvals/{approval_id}/approve")).status_code == 200
        again = await client.post(f"/v1/approvals/{approval_id}/approve", headers=bearer("bob"))
        assert (again.status_code, again.json()["detail"]) == (409, f"approval {approval_id} is already approved")
