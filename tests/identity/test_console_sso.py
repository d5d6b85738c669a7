"""Approvers sign in to the console with their identity provider (oidc-provider) in a real
headless Chromium: authorization code with PKCE run by the page, the token kept in this
tab's sessionStorage (no cookie, no localStorage), and sign-out."""

from __future__ import annotations

from pathlib import Path

import httpx
from playwright.async_api import Browser, expect

from gateway.config import parse_config
from gateway.identity.console_sign_in import ConsoleSignIn
from tests.identity.conftest import GatewayFactory, IdpFactory, trusting
from tests.support.oidc_idp import SCOPE

CONSOLE_CLIENT = "approvals-console"
TOKEN_KEY = "gateway.approver.token"


def console_client(public_url: str) -> dict[str, object]:
    return {
        "client_id": CONSOLE_CLIENT,
        "token_endpoint_auth_method": "none",
        "redirect_uris": [f"{public_url}/console"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "scope": f"openid {SCOPE}",
    }


async def test_approver_signs_in_with_sso_and_out_again(
    browser: Browser, start_idp: IdpFactory, start_oidc_gateway: GatewayFactory, public_url: str
) -> None:
    idp_settings = {"clients": [console_client(public_url)], "claims": {"alice": {"roles": ["approver"]}}}
    async with (
        start_idp(**idp_settings) as idp,
        start_oidc_gateway(trusting(idp), console={"issuer": idp.issuer, "client_id": CONSOLE_CLIENT}) as gw,
    ):
        async with httpx.AsyncClient() as http:
            options = (await http.get(f"{gw.url}/console/sign-in.json")).json()
        assert options["sso"] == {
            "issuer": idp.issuer,
            "client_id": CONSOLE_CLIENT,
            "scope": f"openid {SCOPE}",
            "resource": public_url,
        }
        page = await browser.new_page()
        await page.goto(f"{gw.url}/console")
        await page.click("#sso-button")
        await page.fill("input[name=login]", "alice")
        await page.fill("input[name=password]", "any password")
        await page.click("button[type=submit]")
        await page.click("button[type=submit]")  # consent: Continue
        await expect(page.locator("#who-name")).to_have_text("alice")
        await expect(page.locator("#empty")).to_be_visible()  # /v1/approvals answered with the SSO token
        assert page.url == f"{gw.url}/console"  # the one-time code is gone from the address bar
        assert await page.evaluate("document.cookie") == ""
        assert await page.evaluate("localStorage.length") == 0
        token = await page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')")
        assert token and token.count(".") == 2
        assert await page.evaluate("sessionStorage.length") == 1  # the PKCE verifier is gone too

        await page.click("#sign-out")
        await expect(page.locator("#sso-button")).to_be_visible()
        assert await page.evaluate("sessionStorage.length") == 0


async def test_a_forged_sign_in_response_is_refused(
    browser: Browser, start_idp: IdpFactory, start_oidc_gateway: GatewayFactory, public_url: str
) -> None:
    async with (
        start_idp(clients=[console_client(public_url)]) as idp,
        start_oidc_gateway(trusting(idp), console={"issuer": idp.issuer, "client_id": CONSOLE_CLIENT}) as gw,
    ):
        page = await browser.new_page()
        # A code planted by someone else (login CSRF): this tab never started a sign-in.
        await page.goto(f"{gw.url}/console?code=planted&state=guess")
        await expect(page.locator("#sign-in-error")).to_contain_text("does not belong to a sign-in started in this tab")
        assert await page.evaluate("sessionStorage.length") == 0


def test_pasting_a_token_is_offered_only_with_a_local_issuer(tmp_path: Path) -> None:
    issuers = [{"issuer": "https://login.example.com", "audiences": ["https://gw.example.com"]}]
    console = {"issuer": "https://login.example.com", "client_id": "c", "scopes": ["openid", "profile"]}
    sso_only = parse_config({"identity": {"issuers": issuers, "console": console}}, base_dir=tmp_path, environ={})
    sign_in = ConsoleSignIn.from_settings(sso_only.identity)
    assert not sign_in.paste_token and sign_in.idp_origin == "https://login.example.com"
    assert sign_in.document("https://gw.example.com")["sso"]["scope"] == "openid profile"
    with_local = parse_config(
        {"allow_inline_secrets": True, "identity": {"issuers": issuers, "console": console, "secret": "s" * 40}},
        base_dir=tmp_path,
        environ={},
    )
    assert ConsoleSignIn.from_settings(with_local.identity).paste_token
