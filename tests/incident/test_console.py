"""The kill switch in the web console (a real headless Chromium driven by Playwright):
an operator suspends an agent with the form and resumes it with the button."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from gateway.mcp.client import connect
from tests.support.gateway import RunningGateway

HOSTILE = "<img src=x onerror=\"document.title='pwned'\">"


async def test_suspend_and_resume_from_the_console(echo_gateway: RunningGateway, browser: Browser) -> None:
    gw = echo_gateway
    page = await browser.new_page()
    await page.goto(f"{gw.url}/console/agents")
    await page.fill("#token", gw.token("agent-1", ("tester",)))
    await page.click("#sign-in-form button[type=submit]")
    await expect(page.locator("#sign-in-error")).to_contain_text("requires one of the roles")

    await page.fill("#token", gw.token("oncall", ("gateway-admin",)))
    await page.click("#sign-in-form button[type=submit]")
    await expect(page.locator("#who-name")).to_have_text("oncall")
    await expect(page.locator("#none")).to_be_visible()
    await page.select_option("#scope", "subject")
    await page.fill("#value", "agent-1")
    await page.fill("#reason", f"looping {HOSTILE}")
    await page.click("#suspend")
    await expect(page.locator("#suspensions li")).to_have_count(1)
    await expect(page.locator("#suspensions li")).to_contain_text(f"subject agent-1looping {HOSTILE}")
    assert await page.title() != "pwned"
    async with connect(gw.mcp_url, gw.token("agent-1")) as client:
        refused = await client.call_tool("echo.echo", {"text": "x"})
        assert refused.is_error and "suspended" in refused.content[0].text
        await page.fill("#suspensions li input", "false alarm")
        await page.click("#suspensions li button")
        await expect(page.locator("#none")).to_be_visible()
        assert not (await client.call_tool("echo.echo", {"text": "x"})).is_error
    await page.fill("#value", "")
    await page.select_option("#scope", "tenant")
    await page.fill("#reason", "tenant without a name")
    await page.click("#suspend")
    await expect(page.locator("#form-error")).to_contain_text("needs the tenant name")
