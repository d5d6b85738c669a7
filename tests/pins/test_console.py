"""The tool reviewers' console view in a real headless Chromium (Debian's, via Playwright):
a reviewer signs in, reads the diff of a quarantined definition and approves it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect
from starlette.applications import Starlette

from connectors.mcp import stub as echo_stub
from gateway.mcp.client import connect
from gateway.serving import running
from tests.support.gateway import GatewayFactory

HOSTILE = "Echo. <img src=x onerror=\"document.title='pwned'\">"


@pytest.fixture
async def upstream() -> AsyncIterator[Starlette]:
    app = echo_stub.create_app()
    app.state.tools[0] = app.state.tools[0].model_copy(update={"description": HOSTILE})
    async with running(app) as url:
        app.state.url = f"{url}/mcp"
        yield app


async def test_a_reviewer_reads_the_diff_and_approves_in_the_console(
    upstream: Starlette, start_gateway: GatewayFactory, browser: Browser
) -> None:
    connectors = {"echo": {"kind": "mcp", "url": upstream.state.url, "timeout_seconds": 5}}
    async with start_gateway(connectors, catalog={"trust_on_first_use": False}) as gw:
        page = await browser.new_page()
        await page.goto(f"{gw.url}/console/tools")
        await page.fill("#token", gw.token("ci", roles=("tester",)))
        await page.click("button[type=submit]")
        await expect(page.locator("#sign-in-error")).to_contain_text("requires the 'tool-reviewer' role")
        await page.fill("#token", gw.token("rita", roles=("tool-reviewer",)))
        await page.click("button[type=submit]")
        await expect(page.locator("#who-name")).to_have_text("rita")
        await expect(page.locator("#pending-count")).to_have_text("3")
        await page.click("text=echo.echo")
        await expect(page.locator(".diff")).to_contain_text('"description": "Echo. <img src=x onerror=')
        await expect(page.locator(".diff .line.added").first).to_be_visible()
        await page.click("#approve")
        await expect(page.locator("#detail")).to_contain_text("echo.echo approved: agents see it now.")
        await expect(page.locator("#pending-count")).to_have_text("2")
        assert await page.title() == "Tool definitions · Agent Gateway"
        async with connect(gw.mcp_url, gw.token("ci", roles=("tester",))) as client:
            names = {t.name for t in (await client.list_tools()).tools}
        assert "echo.echo" in names and "echo.add" not in names
