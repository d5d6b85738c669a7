"""`gateway approvals list|show|approve|deny`: the approvers' REST API from a terminal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import click
import httpx

from gateway.cli.approvals_format import duration, iso, table
from gateway.cli.credentials import bearer
from gateway.cli.output import echo_json, inert, json_text

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
_json_option = click.option("--json", "as_json", is_flag=True, help="Same as -o json.")


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
        raise click.ClickException(f"{response.status_code} {inert(detail or response.reason_phrase)}")
    if not isinstance(body, dict):
        raise click.ClickException(f"the gateway at {url} answered with something other than a JSON object")
    return body


def _left(approval: Mapping[str, Any], now: float) -> str:
    if approval["state"] != "pending":
        return str(approval["state"])
    return f"{duration(approval['expires_at'] - now)} left"


def _requester(approval: Mapping[str, Any]) -> str:
    requester = approval["requester"]
    tenant = requester.get("tenant")
    return str(requester["subject"]) + (f"@{tenant}" if tenant else "")


def _outcome(approval: Mapping[str, Any]) -> str:
    outcome = approval.get("outcome") or {}
    status = outcome.get("status", approval["state"])
    return f"executed: {status}" if outcome.get("executed") else str(status)


def _votes(approval: Mapping[str, Any]) -> str:
    return f"{approval['approvals']}/{approval['approvals_required']}"


def _rows(approvals: list[Mapping[str, Any]], now: float, wide: bool) -> str:
    header = ["ID", "TOOL", "REQUESTER", "VOTES", "LEFT", "SUMMARY"]
    if wide:
        header = [*header[:5], "ROLES", "REQUESTED", "OUTCOME", "YOUR VOTE", "REASON", "SUMMARY"]
    rows = []
    for a in approvals:
        row = [a["approval_id"], f"{a['connector']}.{a['tool']}", _requester(a), _votes(a), _left(a, now)]
        if wide:
            vote = a.get("vote") or {}
            row += [
                ",".join(a["requester"].get("roles", [])) or "-",
                iso(a["requested_at"]),
                _outcome(a),
                "yes" if vote.get("allowed") else "no",
                a.get("rule_reason") or "-",
            ]
        rows.append([*row, a.get("summary", "")])
    return table(header, rows)


def _print_detail(approval: Mapping[str, Any], now: float) -> None:
    requester = approval["requester"]
    role = approval["approver_role"] or "any approver role"
    vote = approval.get("vote") or {}
    lines = [
        ("approval", approval["approval_id"]),
        ("state", approval["state"]),
        ("tool", f"{approval['connector']}.{approval['tool']}"),
        ("requested by", requester["subject"]),
        ("tenant", requester.get("tenant") or "-"),
        ("roles", ", ".join(requester.get("roles", [])) or "-"),
        ("why held", approval.get("rule_reason") or "-"),
        ("rule", f"{approval['rule'] or 'default'} (policy {approval['policy_version']})"),
        ("approvals", f"{approval['approvals']} of {approval['approvals_required']}, role {role}"),
        ("requested", iso(approval["requested_at"])),
        ("expires", f"{iso(approval['expires_at'])} ({_left(approval, now)})"),
        ("your vote", "you may vote" if vote.get("allowed") else f"not possible: {vote.get('reason')}"),
        ("high impact", "yes: approving asks to confirm" if approval.get("high_impact") else "no"),
        ("outcome", _outcome(approval) + (f" ({o})" if (o := (approval.get("outcome") or {}).get("detail")) else "")),
        ("summary", approval.get("summary") or "-"),
    ]
    if approval.get("reason"):
        lines.append(("reason", approval["reason"]))
    for label, value in lines:
        click.echo(f"{label:>13}  {inert(value)}")
    for v in approval["votes"]:
        verb = "approved" if v["approve"] else "denied"
        comment = f": {v['comment']}" if v["comment"] else ""
        who = v["approver"] + (f"@{v['tenant']}" if v.get("tenant") else "")
        line = f"{who} {verb} at {iso(v['at'])}{comment}"
        click.echo(f"{'vote':>13}  {inert(line)}")
    click.echo(f"{'arguments':>13}")
    click.echo(json_text(approval.get("arguments", {}), indent=2))


_output_option = click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "wide", "json"]),
    default="table",
    show_default=True,
    help="table; wide (more columns); json (the API's JSON).",
)


def _format(output: str, as_json: bool) -> str:
    return "json" if as_json else output


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
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True, help="Rows per page.")
@click.option("--oldest-first", is_flag=True, help="Oldest first (default: newest first).")
@click.option("--cursor", help="Continue from the cursor a previous page printed.")
@_url_option
@_token_option
@_output_option
@_json_option
def list_command(
    state: str,
    connector: str | None,
    tool: str | None,
    agent: str | None,
    limit: int,
    oldest_first: bool,
    cursor: str | None,
    url: str,
    token: str | None,
    output: str,
    as_json: bool,
) -> None:
    """Approval requests you may vote on or read, newest first (pending by default;
    --state decided for history), a page at a time."""
    params = {
        "state": state,
        "connector": connector,
        "tool": tool,
        "agent": agent,
        "limit": limit,
        "order": "oldest" if oldest_first else "newest",
        "cursor": cursor,
    }
    body = _request(url, token, "GET", "/v1/approvals", params={k: v for k, v in params.items() if v is not None})
    if _format(output, as_json) == "json":
        echo_json(body, indent=2)
        return
    if not body["approvals"]:
        click.echo(f"no {state} approvals" if state != "all" else "no approvals")
        return
    click.echo(_rows(body["approvals"], body["now"], output == "wide"))
    if body.get("next_cursor"):
        shown = len(body["approvals"])
        click.echo(f"({shown} of {body['total']}; next page: --cursor '{body['next_cursor']}')")


@approvals.command("show")
@click.argument("approval_id")
@_url_option
@_token_option
@_output_option
@_json_option
def show_command(approval_id: str, url: str, token: str | None, output: str, as_json: bool) -> None:
    """One approval with why it was held, its full arguments, votes, outcome and notifications."""
    body = _request(url, token, "GET", f"/v1/approvals/{approval_id}")
    sent = _request(url, token, "GET", f"/v1/approvals/{approval_id}/notifications")["notifications"]
    if _format(output, as_json) == "json":
        echo_json({**body, "notifications": sent}, indent=2)
        return
    _print_detail(body["approval"], body["now"])
    _print_notifications(sent)


def _print_notifications(sent: list[dict[str, Any]]) -> None:
    click.echo(f"{'notifications':>13}" + ("" if sent else "  none"))
    rows = [
        (iso(n["at"]), n["channel"], n["event"], n["outcome"], inert(n["target"]), inert(n.get("error") or ""))
        for n in sent
    ]
    if rows:
        click.echo(table(("AT", "CHANNEL", "EVENT", "OUTCOME", "TARGET", "ERROR"), rows))


def _confirm_high_impact(approval_id: str, url: str, token: str | None) -> None:
    approval = _request(url, token, "GET", f"/v1/approvals/{approval_id}")["approval"]
    if approval.get("high_impact"):
        what = inert(f"{approval['connector']}.{approval['tool']} by {_requester(approval)}: {approval.get('summary')}")
        click.confirm(f"High-impact approval: {what}\nApprove it?", abort=True)


def _vote(approval_id: str, approve: bool, comment: str, url: str, token: str | None, as_json: bool) -> None:
    verb = "approve" if approve else "deny"
    body = _request(url, token, "POST", f"/v1/approvals/{approval_id}/{verb}", json={"comment": comment})
    if as_json:
        echo_json(body, indent=2)
        return
    a = body["approval"]
    click.echo(f"{a['approval_id']}: {a['state']} ({a['approvals']} of {a['approvals_required']} approvals)")


@approvals.command("approve")
@click.argument("approval_id")
@click.option("-m", "--comment", default="", help="Why you approve (recorded in the audit log).")
@click.option("-y", "--yes", is_flag=True, help="Do not ask to confirm a high-impact approval.")
@_url_option
@_token_option
@_json_option
def approve_command(approval_id: str, comment: str, yes: bool, url: str, token: str | None, as_json: bool) -> None:
    """Approve a held call; a high-impact one asks to confirm first (unless --yes)."""
    if not yes:
        _confirm_high_impact(approval_id, url, token)
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
