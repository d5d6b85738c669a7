"""The web console in a real headless Chromium (Debian's, driven by Playwright): an
approver signs in with a JWT and approves a held call by clicking and by keyboard."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from playwright.async_api import Browser, Page, expect

from gateway.approvals import ApprovalFilter
from gateway.models import ToolResult
from tests.support.approvals import Stack, approval_stack, digest, make_call, needs_approval, token

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


async def signed_in(browser: Browser, stack: Stack, subject: str) -> Page:
    page = await browser.new_page()
    await page.goto(f"{stack.url}/console")
    await page.fill("#token", token(subject))
    await page.click("button[type=submit]")
    await expect(page.locator("#who-name")).to_have_text(subject)
    return page


async def test_two_approvers_release_a_held_call_by_keyboard_and_click(tmp_path: Path, browser: Browser) -> None:
    async with approval_stack(tmp_path) as stack:
        page = await browser.new_page()
        await page.goto(f"{stack.url}/console")
        await page.fill("#token", "not-a-token")
        await page.click("button[type=submit]")
        await expect(page.locator("#sign-in-error")).to_contain_text("invalid token")

        alice = await signed_in(browser, stack, "alice")
        await expect(alice.locator("#empty")).to_be_visible()
        call = make_call({"amount": 50_000, "memo": HOSTILE})
        held = asyncio.create_task(stack.service.hold(call, needs_approval(2), digest(call), wait_seconds=30))
        # The list updates by itself; j selects the first request, c focuses the comment.
        await expect(alice.locator("#list li")).to_have_count(1, timeout=5000)
        await alice.keyboard.press("j")
        await expect(alice.locator("#arguments")).to_contain_text(json.dumps(HOSTILE))
        assert await alice.title() != "pwned"
        await expect(alice.locator("#detail")).to_contain_text("policies/finance.csv:3")
        await alice.keyboard.press("c")
        await alice.keyboard.type("amount matches invoice 4711")
        await alice.keyboard.press("Escape")
        await alice.keyboard.press("a")
        await expect(alice.locator(".badge")).to_have_text("pending")
        await expect(alice.locator("#detail .votes")).to_contain_text("alice approved")
        assert not held.done()

        bob = await signed_in(browser, stack, "bob")
        await bob.click("#list li")
        await bob.click("#approve")
        await expect(bob.locator(".badge")).to_have_text("approved")
        outcome = await asyncio.wait_for(held, 5)
        assert outcome.action == "execute"
        assert [(v.approver, v.comment) for v in outcome.approval.votes] == [
            ("alice", "amount matches invoice 4711"),
            ("bob", ""),
        ]
        # Alice's console drops the request from pending on its next update; history has it.
        await expect(alice.locator("#list li")).to_have_count(0, timeout=5000)
        await alice.keyboard.press("h")
        await expect(alice.locator("#list li.approved")).to_have_count(1)
        await page.screenshot(path=str(tmp_path / "signin.png"))


async def test_deny_needs_a_comment_and_the_requester_cannot_approve(tmp_path: Path, browser: Browser) -> None:
    async with approval_stack(tmp_path) as stack:
        call = make_call()
        held = asyncio.create_task(stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=30))
        agent = await signed_in(browser, stack, call.principal.subject)
        await agent.click("#list li")
        # Votes the approver cannot cast are disabled, with the reason beside them.
        await expect(agent.locator("#approve")).to_be_disabled()
        await expect(agent.locator("#deny")).to_be_disabled()
        await expect(agent.locator("#vote-blocked")).to_have_text(
            "You cannot vote: agent-7 requested this call and cannot vote on its own approval"
        )
        await agent.keyboard.press("a")
        (pending,) = await stack.service.list(ApprovalFilter())
        assert pending.approval.votes == ()
        carol = await signed_in(browser, stack, "carol")
        await carol.click("#list li")
        await carol.click("#deny")
        await expect(carol.locator("#decide-error")).to_contain_text("Say why you deny it")
        await carol.fill("#comment", "no budget left")
        await carol.click("#deny")
        await expect(carol.locator(".reason")).to_have_text("denied by carol: no budget left")
        assert (await asyncio.wait_for(held, 5)).action == "denied"


async def test_high_impact_asks_to_confirm_and_the_outcome_shows_the_execution(
    tmp_path: Path, browser: Browser
) -> None:
    async with approval_stack(tmp_path, high_impact_amount=50_000) as stack:
        call = make_call({"amount": 75_000, "currency": "USD", "vendor": "ACME"})
        held = asyncio.create_task(stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=30))
        alice = await signed_in(browser, stack, "alice")
        await expect(alice.locator("#list li .item-summary")).to_have_text("amount=75000 currency=USD vendor=ACME")
        await expect(alice.locator("#list li .impact")).to_have_text("high impact")
        await expect(alice.locator("#list li .item-meta")).to_have_text("by agent-7")
        await alice.keyboard.press("j")
        await expect(alice.locator("#rule-reason")).to_have_text("transfers above 10,000 need two approvers")
        await expect(alice.locator("#requester-roles")).to_have_text("agent")
        await expect(alice.locator("#outcome")).to_have_text("Pending")
        # One keystroke no longer approves 75,000 USD: a dialog asks, Cancel leaves it pending.
        await alice.keyboard.press("a")
        await expect(alice.locator("#confirm")).to_be_visible()
        await expect(alice.locator("#confirm-summary")).to_have_text("amount=75000 currency=USD vendor=ACME")
        await alice.click("#confirm-cancel")
        await expect(alice.locator("#confirm")).to_be_hidden()
        assert not held.done()
        await alice.click("#approve")
        await alice.click("#confirm-yes")
        await expect(alice.locator(".badge")).to_have_text("approved")
        outcome = await asyncio.wait_for(held, 5)
        assert outcome.action == "execute"
        await expect(alice.locator("#outcome")).to_contain_text("Running")
        await stack.service.record_result(outcome.approval.approval_id, ToolResult.text("PO 4500000001"))
        await expect(alice.locator("#outcome")).to_have_text("Executed: ok (the backend returned a result)")


async def test_the_console_pages_through_every_pending_approval(tmp_path: Path, browser: Browser) -> None:
    async with approval_stack(tmp_path, max_pending_per_principal=100) as stack:
        ids = []
        for i in range(55):
            call = make_call({"amount": i})
            ids.append(
                (await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)).approval.approval_id
            )
        alice = await signed_in(browser, stack, "alice")
        await expect(alice.locator("#list li")).to_have_count(50)
        await expect(alice.locator("#page-info")).to_have_text("1-50 of 55")
        await expect(alice.locator("#pending-count")).to_have_text("55")
        assert await alice.locator("#list li").first.get_attribute("data-id") == ids[-1]
        await alice.click("#page-next")
        await expect(alice.locator("#page-info")).to_have_text("51-55 of 55")
        await expect(alice.locator("#list li")).to_have_count(5)
        assert await alice.locator("#list li").last.get_attribute("data-id") == ids[0]
        await expect(alice.locator("#page-next")).to_be_disabled()
        await alice.keyboard.press("b")
        await expect(alice.locator("#page-info")).to_have_text("1-50 of 55")
        await alice.select_option("#order", "oldest")
        await expect(alice.locator("#list li").first).to_have_attribute("data-id", ids[0])


async def test_console_headers_forbid_framing_and_foreign_scripts(tmp_path: Path) -> None:
    async with approval_stack(tmp_path) as stack, httpx.AsyncClient(base_url=stack.url) as client:
        page = await client.get("/console")
        assert page.status_code == 200 and "text/html" in page.headers["content-type"]
        csp = page.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert page.headers["x-frame-options"] == "DENY"
        assert (await client.get("/console/console.js")).headers["content-type"].startswith("text/javascript")
        assert (await client.get("/console/../api.py")).status_code == 404
        assert (await client.get("/console/console.html")).status_code == 404


async def test_clicking_approve_releases_a_held_agent_call(
    browser: Browser, echo_upstream, start_gateway, policy_dir: Path
) -> None:
    """The whole path: an MCP agent's call is held by policy, an approver approves it in
    the console served by the gateway, and the agent receives the backend's result."""
    from gateway.mcp.client import connect

    url, upstream = echo_upstream
    with (policy_dir / "policy.csv").open("a") as f:
        f.write("\np, tester, *, echo.add, approve, r.args.a > 100, 1 approver 1h\n")
    async with (
        start_gateway({"echo": {"kind": "mcp", "url": url, "timeout_seconds": 5}}) as gw,
        connect(gw.mcp_url, gw.token()) as client,
    ):
        call = asyncio.create_task(client.call_tool("echo.add", {"a": 1000, "b": 1}))
        page = await browser.new_page()
        await page.goto(f"{gw.url}/console")
        await page.fill("#token", gw.token("alice", ("approver",)))
        await page.click("button[type=submit]")
        await page.click("#list li", timeout=10_000)
        await expect(page.locator("#arguments")).to_contain_text('"a": 1000')
        await page.fill("#comment", "verified")
        await page.click("#approve")
        await expect(page.locator(".badge")).to_have_text("approved")
        result = await asyncio.wait_for(call, 10)
    assert not result.is_error and result.content[0].text == "1001"
    assert len(upstream.state.calls) == 1
