"""The web console in a real headless Chromium (Debian's, driven by Playwright): an
approver signs in with a JWT and approves a held call by clicking and by keyboard."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.support.approvals import Stack, approval_stack, digest, make_call, needs_approval, token

CHROMIUM = Path("/usr/bin/chromium")
if not CHROMIUM.exists():
    if os.environ.get("GATEWAY_REQUIRE_SERVICES") == "1":
        raise RuntimeError("GATEWAY_REQUIRE_SERVICES=1 but /usr/bin/chromium is missing (apt-get install chromium)")
    pytest.skip(
        "Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)", allow_module_level=True
    )

from playwright.async_api import Browser, Page, async_playwright, expect  # noqa: E402

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as p:
        browser = await p.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield browser
        finally:
            await browser.close()


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
        await agent.click("#approve")
        await expect(agent.locator("#decide-error")).to_have_text(
            "agent-7 requested this call and cannot vote on its own approval"
        )
        carol = await signed_in(browser, stack, "carol")
        await carol.click("#list li")
        await carol.click("#deny")
        await expect(carol.locator("#decide-error")).to_contain_text("Say why you deny it")
        await carol.fill("#comment", "no budget left")
        await carol.click("#deny")
        await expect(carol.locator(".reason")).to_have_text("denied by carol: no budget left")
        assert (await asyncio.wait_for(held, 5)).action == "denied"


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
