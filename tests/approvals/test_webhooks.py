"""Webhook notifications delivered to a real local receiver."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.config import WebhookSettings
from tests.support.approvals import approval_stack, approver, digest, make_call, needs_approval, serve


class Receiver:
    """Answers 503 to the first `failures` posts, then 200; records what it got."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[tuple[float, dict[str, Any], str | None]] = []
        self.attempts = 0
        self.arrived = asyncio.Event()

    async def endpoint(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.attempts <= self.failures:
            return JSONResponse({"error": "busy"}, status_code=503)
        self.received.append((time.monotonic(), await request.json(), request.headers.get("x-hook-secret")))
        self.arrived.set()
        return JSONResponse({"ok": True})

    async def wait_for(self, count: int) -> None:
        async with asyncio.timeout(10):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()


async def test_requested_and_decided_reach_the_receiver_after_retries(tmp_path: Path) -> None:
    receiver = Receiver(failures=2)
    async with serve(Starlette(routes=[Route("/hook", receiver.endpoint, methods=["POST"])])) as hook_url:
        hooks = (WebhookSettings(url=f"{hook_url}/hook", headers={"X-Hook-Secret": "s3cret"}),)
        async with approval_stack(
            tmp_path, webhooks=hooks, webhook_backoff_seconds=0.05, console_url="https://gw.example"
        ) as stack:
            call = make_call()
            outcome = await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
            approval_id = outcome.approval.approval_id
            await receiver.wait_for(1)
            await stack.service.vote(approval_id, approver("alice"), True, "go")
            await receiver.wait_for(2)
    assert receiver.attempts == 4, "two refused attempts, then both events delivered"
    (_, requested, secret), (_, decided, _) = receiver.received
    assert secret == "s3cret"
    assert requested["text"] == f"Approval {approval_id}: sap.transfer requested by agent-7 needs approval"
    assert requested["metadata"]["event_type"] == "approval_requested"
    assert requested["metadata"]["event_payload"]["approval_id"] == approval_id
    assert "arguments" not in requested["metadata"]["event_payload"], "arguments stay out of chat channels"
    assert (
        f"<https://gw.example/console#/approvals/{approval_id}|Open in the console>"
        in requested["blocks"][1]["text"]["text"]
    )
    assert [b["type"] for b in requested["blocks"]] == ["section", "section"]
    assert decided["text"].endswith("was decided (approved)")
    assert "*Approved by* alice: go" in decided["blocks"][1]["text"]["text"]
    assert decided["metadata"]["event_type"] == "approval_decided"


async def test_an_unreachable_target_never_delays_a_call(tmp_path: Path) -> None:
    # Port 9 on loopback: nothing listens, every attempt fails at once.
    hooks = (WebhookSettings(url="http://127.0.0.1:9/hook"),)
    async with approval_stack(tmp_path, webhooks=hooks, webhook_attempts=20, webhook_backoff_seconds=5) as stack:
        call = make_call()
        started = time.monotonic()
        outcome = await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
        await stack.service.vote(outcome.approval.approval_id, approver("alice"), True, "")
        released = await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=1)
        assert released.action == "execute"
        assert time.monotonic() - started < 1.0
