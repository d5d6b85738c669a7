"""`gateway login`: the device authorization grant (RFC 8628) against the identity provider
the gateway names in its protected-resource metadata (RFC 9728).

The steps: read the gateway's metadata (resource, authorization server, scopes), read the
server's metadata, register a public client when none is given and the server allows
dynamic registration, ask for a device code, show the person where to confirm it, poll
the token endpoint until they did, and store the tokens.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import click
import httpx

from gateway.cli.credentials import StoredLogin, gateway_key

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
WELL_KNOWN_RESOURCE = "/.well-known/oauth-protected-resource"


def _json(response: httpx.Response, what: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise click.ClickException(f"{what}: HTTP {response.status_code}, not a JSON object")
    return body


def _get(http: httpx.Client, url: str, what: str) -> dict[str, Any]:
    try:
        response = http.get(url)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"{what}: cannot reach {url}: {exc}") from None
    if response.status_code != 200:
        raise click.ClickException(f"{what}: {url} answered HTTP {response.status_code}")
    return _json(response, what)


def discover(http: httpx.Client, gateway: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The gateway's protected-resource metadata and its first authorization server's metadata."""
    resource = _get(http, gateway + WELL_KNOWN_RESOURCE, "the gateway's protected-resource metadata")
    servers = resource.get("authorization_servers") or []
    if not servers:
        raise click.ClickException(f"{gateway} names no identity provider: ask for a token, or use 'gateway token'")
    issuer = str(servers[0])
    server = _get(http, issuer.rstrip("/") + "/.well-known/openid-configuration", "the identity provider's metadata")
    if server.get("issuer") != issuer:
        raise click.ClickException(
            f"the identity provider's metadata names issuer {server.get('issuer')!r}, not {issuer!r}"
        )
    if "device_authorization_endpoint" not in server:
        raise click.ClickException(f"{issuer} does not offer the device authorization grant (RFC 8628)")
    return resource, server


def register(http: httpx.Client, server: dict[str, Any]) -> str:
    endpoint = server.get("registration_endpoint")
    if not endpoint:
        raise click.ClickException("the identity provider has no dynamic registration: pass --client-id")
    metadata = {
        "client_name": "gateway CLI",
        "grant_types": [DEVICE_GRANT, "refresh_token"],
        "response_types": [],
        "redirect_uris": [],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    }
    body = _json(http.post(str(endpoint), json=metadata), "client registration")
    if "client_id" not in body:
        raise click.ClickException(f"client registration refused: {body.get('error_description') or body.get('error')}")
    return str(body["client_id"])


def _poll(http: httpx.Client, server: dict[str, Any], grant: dict[str, Any], form: dict[str, str]) -> dict[str, Any]:
    interval = float(grant.get("interval", 5))
    deadline = time.monotonic() + float(grant.get("expires_in", 600))
    while time.monotonic() < deadline:
        time.sleep(interval)
        body = _json(http.post(str(server["token_endpoint"]), data=form), "the token request")
        error = body.get("error")
        if "access_token" in body:
            return body
        if error == "slow_down":
            interval += 5  # RFC 8628 section 3.5
        elif error != "authorization_pending":
            raise click.ClickException(f"sign-in failed: {body.get('error_description') or error}")
    raise click.ClickException("the device code expired before the sign-in was confirmed")


def device_login(gateway: str, client_id: str | None, show: Callable[[str, str], None]) -> StoredLogin:
    """Runs the device grant; `show(url, user_code)` tells the person where to confirm."""
    base = gateway_key(gateway)
    with httpx.Client(timeout=15.0) as http:
        resource, server = discover(http, base)
        client_id = client_id or register(http, server)
        scope = " ".join(["openid", "offline_access", *resource.get("scopes_supported", [])])
        request = {"client_id": client_id, "scope": scope, "resource": str(resource["resource"])}
        grant = _json(http.post(str(server["device_authorization_endpoint"]), data=request), "the device authorization")
        if "device_code" not in grant:
            raise click.ClickException(f"device authorization refused: {grant.get('error_description') or grant}")
        show(str(grant.get("verification_uri_complete") or grant["verification_uri"]), str(grant["user_code"]))
        form = {"grant_type": DEVICE_GRANT, "device_code": str(grant["device_code"]), "client_id": client_id}
        tokens = _poll(http, server, grant, form)
    return StoredLogin(
        gateway=base,
        issuer=str(server["issuer"]),
        client_id=client_id,
        token_endpoint=str(server["token_endpoint"]),
        resource=str(resource["resource"]),
        access_token=str(tokens["access_token"]),
        refresh_token=tokens.get("refresh_token"),
        expires_at=time.time() + float(tokens.get("expires_in", 300)),
    )
