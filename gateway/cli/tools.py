"""`gateway tools pending|diff|approve`: the tool reviewers' REST API from a terminal
(`gateway tools` itself, in gateway.cli, lists the tools a token may use)."""

from __future__ import annotations

import time
from typing import Any

import click

from gateway.cli.approvals import _json_option, _request, _token_option, _url_option
from gateway.cli.output import echo_json, inert


@click.command("pending")
@_url_option
@_token_option
@_json_option
def pending_command(url: str, token: str, as_json: bool) -> None:
    """List the tool definitions waiting for review."""
    body = _request(url, token, "GET", "/v1/catalog/pending")
    if as_json:
        echo_json(body, indent=2)
        return
    waiting = body.get("pending", [])
    for item in waiting:
        seen = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["seen_at"]))
        checks = item.get("screening", {}).get("checks") or {}
        flagged = f"  screening: {inert(', '.join(f'{k} {v}' for k, v in sorted(checks.items())))}" if checks else ""
        click.echo(f"{inert(item['tool']):<32} {item['change']:<8} {inert(item['digest'][:12])}  seen {seen}{flagged}")
    click.echo(f"{len(waiting)} definition(s) waiting for review")


@click.command("diff")
@_url_option
@_token_option
@click.option("--digest", default=None, help="Which waiting definition, when there are several.")
@click.argument("tool")
def diff_command(url: str, token: str, digest: str | None, tool: str) -> None:
    """Show what changed in TOOL (connector.tool) against the approved definition."""
    params: dict[str, Any] = {"digest": digest} if digest else {}
    item = _request(url, token, "GET", f"/v1/catalog/pending/{tool}", params=params)["pending"]
    before = item["approved_digest"] or "(none)"
    click.echo(inert(f"{item['tool']}: {item['change']}, {before} -> {item['digest']}"))
    checks = item.get("screening", {}).get("checks") or {}
    if checks:
        click.echo(inert(f"screening found: {', '.join(f'{k} {v}' for k, v in sorted(checks.items()))}"))
    # The diff quotes what an upstream wrote: hidden characters are shown, never acted on.
    click.echo(inert(item["diff"], block=True), nl=False)


@click.command("approve")
@_url_option
@_token_option
@click.option("--digest", default=None, help="Which waiting definition, when there are several.")
@click.argument("tool")
def approve_command(url: str, token: str, digest: str | None, tool: str) -> None:
    """Pin the waiting definition of TOOL: agents see and may call it at once."""
    body = {"digest": digest} if digest else {}
    approved = _request(url, token, "POST", f"/v1/catalog/pending/{tool}/approve", json=body)["approved"]
    click.echo(inert(f"approved {approved['tool']} {approved['digest'][:12]}"))


REVIEW_COMMANDS = (pending_command, diff_command, approve_command)
