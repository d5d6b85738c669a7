"""The console shows each approval's notifications (sent, retried, failed) in a real
headless Chromium (Debian's, driven by Playwright)."""

from __future__ import annotations

from pathlib import Path

from playwright.async_api import Browser, expect

from gateway.integrations.settings import IntegrationSettings, TeamsSettings
from tests.integrations.test_notifications import workflow
from tests.support.approvals import approval_stack, digest, make_call, needs_approval, token


async def test_the_console_lists_each_delivery_attempt(tmp_path: Path, browser: Browser) -> None:
    async with workflow(failures=1) as (teams, url):
        settings = IntegrationSettings(teams=TeamsSettings(webhook_url=url), backoff_seconds=0.05)
        async with approval_stack(tmp_path, settings) as stack:
            call = make_call()
            held = await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
            page = await browser.new_page()
            await page.goto(f"{stack.url}/console")
            await page.fill("#token", token("alice"))
            await page.click("button[type=submit]")
            await page.click(f"#item-{held.approval.approval_id}")
            items = page.locator("#notifications li")
            await expect(items).to_have_count(2)
            retried, sent = await items.all_inner_texts()
    assert retried.startswith("teams requested retried to 127.0.0.1:") and "HTTP 503" in retried
    assert sent.startswith("teams requested sent to 127.0.0.1:")
    assert len(teams.cards) == 1
