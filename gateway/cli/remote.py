"""Talking to a running gateway's REST API from a command: the URL and token options every
remote command shares, and one request helper that turns refusals into clear messages."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any, TypeVar

import click
import httpx

from gateway.cli.output import InertError

F = TypeVar("F", bound=Callable[..., Any])


def remote_options(command: F) -> F:
    """`--url` (the gateway's base URL or its /mcp URL) and `--token`, from the environment too."""
    command = click.option("--token", envvar="GATEWAY_TOKEN", required=True, help="Bearer JWT ($GATEWAY_TOKEN).")(
        command
    )
    return click.option(
        "--url",
        envvar="GATEWAY_URL",
        default="http://127.0.0.1:8080",
        show_default=True,
        help="The gateway's base URL or its /mcp URL ($GATEWAY_URL).",
    )(command)


def api_base(url: str) -> str:
    """The REST API's base: GATEWAY_URL may name the MCP endpoint (the demo prints it so)."""
    return url.rstrip("/").removesuffix("/mcp")


def request_json(
    url: str, token: str, method: str, path: str, *, accept: Collection[int] = (200,), **kwargs: Any
) -> dict[str, Any]:
    """The JSON body of `method path`; an error naming the status and the server's detail otherwise."""
    base = api_base(url)
    try:
        response = httpx.request(
            method, base + path, headers={"Authorization": f"Bearer {token}"}, timeout=15.0, **kwargs
        )
    except httpx.HTTPError as exc:
        raise InertError(f"cannot reach the gateway at {base}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code not in accept or not isinstance(body, dict):
        detail = body.get("detail") if isinstance(body, dict) else None
        raise InertError(f"{response.status_code} {detail or response.reason_phrase}")
    return body
