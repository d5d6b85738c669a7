"""`gateway login`, `gateway logout` and `gateway connect`: sign a person in with the
identity provider a gateway names, keep the tokens for the other commands, and bridge
local MCP clients to the remote gateway with that identity."""

from __future__ import annotations

import asyncio

import click

from gateway.cli import credentials
from gateway.cli.connect import bridge
from gateway.cli.device_login import device_login
from gateway.mcp.client import ClientFailure

url_option = click.option(
    "--url",
    envvar="GATEWAY_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="The gateway (base URL or its /mcp endpoint; env GATEWAY_URL).",
)


@click.command()
@url_option
@click.option("--client-id", default=None, help="The CLI's client id at the IdP (default: register dynamically).")
def login(url: str, client_id: str | None) -> None:
    """Sign in with the gateway's identity provider (device authorization grant)."""

    def show(verification_url: str, user_code: str) -> None:
        click.echo(f"To sign in, open {verification_url}")
        click.echo(f"and confirm the code {user_code}. Waiting...", nl=True)

    stored = device_login(url, client_id, show)
    path = credentials.save(stored)
    click.echo(f"Signed in to {stored.gateway} via {stored.issuer}; tokens stored in {path}")


@click.command()
@url_option
def logout(url: str) -> None:
    """Forget the tokens stored for a gateway."""
    if credentials.forget(url):
        click.echo(f"Signed out of {credentials.gateway_key(url)}")
    else:
        click.echo(f"Not signed in to {credentials.gateway_key(url)}")


@click.command()
@url_option
@click.option("--token", envvar="GATEWAY_TOKEN", default=None, help="Bearer JWT (default: the signed-in one).")
def connect(url: str, token: str | None) -> None:
    """Serve MCP on stdin/stdout, forwarding to the gateway as the signed-in identity."""
    credentials.bearer(url, token)  # fail now, with the reason, rather than inside the MCP client's handshake
    mcp_url = credentials.gateway_key(url) + "/mcp"
    try:
        asyncio.run(bridge(mcp_url, lambda: credentials.bearer(url, token)))
    except ClientFailure as exc:
        # The MCP client that launched us shows our stderr: say why the bridge stopped.
        raise click.ClickException(f"{mcp_url}: {exc}") from None
