"""`gateway approvals list|show|approve|deny`: the approvers' REST API from a terminal."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any

import click
import httpx

from gateway.cli.credentials import bearer

_url_option = click.option(
    "--url",
    envvar="GATEWAY_URL",
    default="http://127.0.0.1:8080",
    show_default=True,
    help="Base URL of the gateway (env GATEWAY_URL).",
)
_token_option = click.option(
    "--token",
    envvar="GATEWAY_TOKEN",
    default=None,
    help="The approver's bearer JWT (env GATEWAY_TOKEN; default: the one from 'gateway login').",
)
_json_option = click.option("--json", "as_json", is_flag=True, help="Print the API's JSON.")


def _request(url: str, token: str | None, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
    # GATEWAY_URL may name the MCP endpoint (the demo prints it so): the API is beside it.
    base = url.rstrip("/").removesuffix("/mcp")
    headers = {"Authorization": f"Bearer {bearer(url, token)}"}
    try:
        response = httpx.request(method, base + path, headers=headers, timeout=15.0, **kwargs)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach the gateway at {url}: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.is_error:
        detail = body.get("detail") if isinstance(body, dict) else None
        raise click.ClickException(f"{response.status_code} {detail or response.reason_phrase}")
    return body


def _when(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "-"


def _left(approval: Mapping[str, Any], now: float) -> str:
    if approval["state"] != "pending":
        return approval["state"]
    seconds = max(0, int(approval["expires_at"] - now))
    return f"{seconds // 60}m{seconds % 60:02d}s left"


def _print_detail(approval: Mapping[str, Any], now: float) -> None:
    requester = approval["requester"]
    role = approval["approver_role"] or "any approver role"
    lines = [
        ("approval", approval["approval_id"]),
        ("state", approval["state"]),
        ("requested by", requester["subject"] + (f" ({requester['tenant']})" if requester.get("tenant") else "")),
        ("tool", f"{approval['connector']}.{approval['tool']}"),
        ("rule", f"{approval['rule'] or 'default'} (policy {approval['policy_version']})"),
        ("approvals", f"{approval['approvals']} of {approval['approvals_required']}, role {role}"),
        ("requested", _when(approval["requested_at"])),
        ("expires", f"{_when(approval['expires_at'])} ({_left(approval, now)})"),
    ]
    if approval.get("reason"):
        lines.append(("reason", approval["reason"]))
    for label, value in lines:
        click.echo(f"{label:>13}  {value}")
    for vote in approval["votes"]:
        verb = "approved" if vote["approve"] else "denied"
        comment = f": {vote['comment']}" if vote["comment"] else ""
        click.echo(f"{'vote':>13}  {vote['approver']} {verb} at {_when(vote['at'])}{comment}")
    click.echo(f"{'arguments':>13}")
    click.echo(json.dumps(approval.get("arguments", {}), indent=2, ensure_ascii=False))


@click.group("approvals")
def approvals() -> None:
    """List, inspect and decide held calls through the gateway's REST API."""


@approvals.command("list")
@click.option(
    "--state",
    type=click.Choice(["pending", "decided", "approved", "denied", "expired", "all"]),
    default="pending",
    show_default=True,
)
@click.option("--connector")
@click.option("--tool")
@click.option("--agent", help="The requesting principal's subject.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@_url_option
@_token_option
@_json_option
def list_command(
    state: str,
    connector: str | None,
    tool: str | None,
    agent: str | None,
    limit: int,
    url: str,
    token: str | None,
    as_json: bool,
) -> None:
    """Approval requests, newest first (pending by default; --state decided for history)."""
    params = {"state": state, "connector": connector, "tool": tool, "agent": agent, "limit": limit}
    body = _request(url, token, "GET", "/v1/approvals", params={k: v for k, v in params.items() if v is not None})
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    if not body["approvals"]:
        click.echo(f"no {state} approvals" if state != "all" else "no approvals")
        return
    for a in body["approvals"]:
        click.echo(
            f"{a['approval_id']}  {a['connector']}.{a['tool']:<24}  {a['requester']['subject']:<16}"
            f"  {a['approvals']}/{a['approvals_required']}  {_left(a, body['now'])}"
        )


@approvals.command("show")
@click.argument("approval_id")
@_url_option
@_token_option
@_json_option
def show_command(approval_id: str, url: str, token: str | None, as_json: bool) -> None:
    """One approval with its full arguments, rule and votes."""
    body = _request(url, token, "GET", f"/v1/approvals/{approval_id}")
    if as_json:
        click.echo(json.dumps(body, indent=2))
    else:
        _print_detail(body["approval"], body["now"])


def _vote(approval_id: str, approve: bool, comment: str, url: str, token: str | None, as_json: bool) -> None:
    verb = "approve" if approve else "deny"
    body = _request(url, token, "POST", f"/v1/approvals/{approval_id}/{verb}", json={"comment": comment})
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    a = body["approval"]
    click.echo(f"{a['approval_id']}: {a['state']} ({a['approvals']} of {a['approvals_required']} approvals)")


@approvals.command("approve")
@click.argument("approval_id")
@click.option("-m", "--comment", default="", help="Why you approve (recorded in the audit log).")
@_url_option
@_token_option
@_json_option
def approve_command(approval_id: str, comment: str, url: str, token: str | None, as_json: bool) -> None:
    """Approve a held call."""
    _vote(approval_id, True, comment, url, token, as_json)


@approvals.command("deny")
@click.argument("approval_id")
@click.option("-m", "--comment", required=True, help="Why you deny it; the agent receives it as the reason.")
@_url_option
@_token_option
@_json_option
def deny_command(approval_id: str, comment: str, url: str, token: str | None, as_json: bool) -> None:
    """Deny a held call; one deny ends the approval."""
    _vote(approval_id, False, comment, url, token, as_json)
