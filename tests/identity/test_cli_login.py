"""`gateway login` (device authorization grant against oidc-provider, confirmed in a real
Chromium), the stored tokens (0600, refreshed when due) used by `gateway tools`, `call`
and `approvals`, `gateway connect` as a local stdio MCP server, and `gateway logout`."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters
from playwright.async_api import Browser, expect

from gateway.audit import read_records
from tests.identity.conftest import GatewayFactory, IdpFactory, trusting
from tests.support.gateway import RunningGateway
from tests.support.oidc_idp import Idp

USER = "carol"


@pytest.fixture
async def stack(start_idp: IdpFactory, start_oidc_gateway: GatewayFactory) -> AsyncIterator[tuple[Idp, RunningGateway]]:
    claims = {USER: {"roles": ["tester", "approver"]}}
    async with start_idp(claims=claims) as idp, start_oidc_gateway(trusting(idp)) as gw:
        yield idp, gw


def cli_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GATEWAY_TOKEN", "GATEWAY_URL")}
    return {**env, "XDG_CONFIG_HOME": str(tmp_path / "config"), "HOME": str(tmp_path)}


async def gateway_cli(env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, output.decode()


async def sign_in(browser: Browser, gw: RunningGateway, env: dict[str, str]) -> str:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "login", "--url", gw.mcp_url,
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert process.stdout is not None
    first = (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    assert first.startswith("To sign in, open "), first
    page = await browser.new_page()
    await page.goto(first.removeprefix("To sign in, open ").strip())
    await page.click("button[autofocus]")  # confirm the device code
    await page.fill("input[name=login]", USER)
    await page.fill("input[name=password]", "any password")
    await page.click("button[type=submit]")
    await page.click("button[type=submit]")  # consent
    await expect(page.locator("body")).to_contain_text("Sign-in Success")
    rest, _ = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 0, rest.decode()
    return first + rest.decode()


async def test_login_then_tools_call_approvals_connect_and_logout(
    browser: Browser, stack: tuple[Idp, RunningGateway], tmp_path: Path
) -> None:
    idp, gw = stack
    env = cli_env(tmp_path)
    output = await sign_in(browser, gw, env)
    assert f"Signed in to {gw.url} via {idp.issuer}" in output
    stored = tmp_path / "config" / "agent-gateway" / "credentials.json"
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(stored.parent.stat().st_mode) == 0o700
    login = json.loads(stored.read_text())[gw.url]
    assert login["refresh_token"] and login["issuer"] == idp.issuer

    code, listed = await gateway_cli(env, "tools", "--url", gw.mcp_url)
    assert code == 0 and "echo.add" in listed, listed
    code, approvals = await gateway_cli(env, "approvals", "list", "--url", gw.url)
    assert code == 0, approvals

    # An access token about to expire is refreshed with the stored refresh token.
    stored.write_text(json.dumps({gw.url: {**login, "expires_at": 0}}))
    code, called = await gateway_cli(env, "call", "echo.add", "--args", '{"a": 2, "b": 40}', "--url", gw.mcp_url)
    assert code == 0 and called.strip() == "42", called
    refreshed = json.loads(stored.read_text())[gw.url]
    assert refreshed["access_token"] != login["access_token"] and refreshed["expires_at"] > 0
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600

    await check_connect(env, gw, login["client_id"])

    code, out = await gateway_cli(env, "logout", "--url", gw.url)
    assert code == 0 and f"Signed out of {gw.url}" in out
    code, out = await gateway_cli(env, "tools", "--url", gw.mcp_url)
    assert code == 2 and "run 'gateway login'" in out


async def check_connect(env: dict[str, str], gw: RunningGateway, client_id: str) -> None:
    """An MCP client that only launches local servers, through `gateway connect`."""
    server = StdioServerParameters(
        command=sys.executable, args=["-m", "gateway.cli", "connect", "--url", gw.url], env=env
    )
    async with Client(server, cache=None) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("echo.add", {"a": 1, "b": 2})
    assert "echo.add" in names and result.structured_content == {"sum": 3}
    principal = [r for r in read_records(gw.config.audit.database) if r.kind == "call.received"][-1].data["principal"]
    assert (principal["subject"], principal["client"]) == (USER, client_id)


async def test_login_without_an_identity_provider_says_so(echo_gateway: RunningGateway, tmp_path: Path) -> None:
    code, out = await gateway_cli(cli_env(tmp_path), "login", "--url", echo_gateway.url)
    assert code == 1 and "names no identity provider" in out
