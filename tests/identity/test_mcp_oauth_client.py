"""The official MCP Python SDK's OAuth client against the gateway and oidc-provider: it
finds the IdP from the gateway's 401 and RFC 9728 metadata, registers itself dynamically,
completes authorization code with PKCE (the IdP's login and consent pages are driven
headlessly), then lists and calls tools as the signed-in user."""

from __future__ import annotations

from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import httpx2
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken
from pydantic import AnyUrl

from gateway.audit import read_records
from tests.identity.conftest import GatewayFactory, IdpFactory, trusting
from tests.support.gateway import RunningGateway

REDIRECT_URI = "http://127.0.0.1:1/callback"  # never served: the test reads the redirect itself
USER = "alice"


class MemoryStorage:
    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client: OAuthClientInformationFull | None = None

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class HeadlessBrowser:
    """Follows the authorization redirect through the IdP's login and consent forms the way a
    person's browser would, and keeps the code it is redirected back with."""

    def __init__(self) -> None:
        self.result: AuthorizationCodeResult | None = None
        self.pages: list[str] = []

    async def open(self, url: str) -> None:
        async with httpx.AsyncClient() as browser:
            response = await browser.get(url)
            while True:
                if response.is_redirect:
                    target = urljoin(str(response.url), response.headers["location"])
                    if target.startswith(REDIRECT_URI):
                        query = parse_qs(urlsplit(target).query)
                        assert "code" in query, f"IdP refused: {query}"
                        self.result = AuthorizationCodeResult(
                            code=query["code"][0], state=query.get("state", [None])[0], iss=query.get("iss", [None])[0]
                        )
                        return
                    response = await browser.get(target)
                    continue
                assert response.status_code == 200, response.text
                page = response.text
                form = {"prompt": "login", "login": USER, "password": "any"} if 'name="login"' in page else None
                self.pages.append("login" if form else "consent")
                response = await browser.post(str(response.url), data=form or {"prompt": "consent"})

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


async def test_sdk_client_signs_in_through_the_gateways_metadata(
    start_idp: IdpFactory, start_oidc_gateway: GatewayFactory
) -> None:
    claims = {USER: {"roles": ["tester"], "department": "purchasing"}}
    async with start_idp(claims=claims) as idp, start_oidc_gateway(trusting(idp)) as gw:
        browser = HeadlessBrowser()
        storage = MemoryStorage()
        auth = OAuthClientProvider(
            gw.mcp_url,
            OAuthClientMetadata(
                client_name="sdk test client",
                redirect_uris=[AnyUrl(REDIRECT_URI)],
                grant_types=["authorization_code", "refresh_token"],
                response_types=["code"],
            ),
            storage,
            redirect_handler=browser.open,
            callback_handler=browser.callback,
        )
        async with (
            httpx2.AsyncClient(auth=auth) as http,
            Client(streamable_http_client(gw.mcp_url, http_client=http), cache=None) as client,
        ):
            names = {t.name for t in (await client.list_tools()).tools}
            result = await client.call_tool("echo.add", {"a": 20, "b": 22})
        await check_signed_in(gw, browser, storage, names, result.structured_content, idp.issuer)


async def check_signed_in(
    gw: RunningGateway,
    browser: HeadlessBrowser,
    storage: MemoryStorage,
    names: set[str],
    result: object,
    issuer: str,
) -> None:
    assert browser.pages == ["login", "consent"]
    assert storage.client is not None and storage.client.client_id  # registered dynamically
    assert storage.tokens is not None and "mcp:tools" in (storage.tokens.scope or "")
    assert "echo.add" in names and result == {"sum": 42}
    received = [r for r in read_records(gw.config.audit.database) if r.kind == "call.received"]
    principal = received[-1].data["principal"]
    assert (principal["subject"], principal["issuer"]) == (USER, issuer)
    assert principal["client"] == storage.client.client_id
