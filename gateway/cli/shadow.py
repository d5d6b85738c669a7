"""`gateway policy shadow DIR | shadow report | shadow stop` and `gateway policy promote`,
through the gateway's admin API."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from gateway.cli.agents import operator_token_option
from gateway.cli.approvals import _json_option, _request, _url_option


class _ShadowGroup(click.Group):
    """`shadow DIR` loads DIR; `shadow report` and `shadow stop` are subcommands."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands:
            return "load", self.commands["load"], args
        return super().resolve_command(ctx, args)


@click.group("shadow", cls=_ShadowGroup)
def shadow() -> None:
    """Decide live calls under a candidate policy too, without enforcing it.

    \b
    gateway policy shadow DIR       load DIR (a directory on the gateway) as the shadow
    gateway policy shadow report    which calls it would decide differently, and how
    gateway policy shadow stop      stop shadowing
    """


@shadow.command("load", hidden=True)
@click.argument("directory")
@_url_option
@operator_token_option
@_json_option
def load_command(directory: str, url: str, token: str, as_json: bool) -> None:
    body = _request(url, token, "POST", "/v1/admin/policy/shadow", json={"directory": directory})
    if as_json:
        click.echo(json.dumps(body, indent=2))
    else:
        click.echo(f"shadowing {body['shadow']['directory']} (version {body['shadow']['version'][:12]})")


@shadow.command("report")
@click.option("--limit", type=click.IntRange(0, 1000), default=50, show_default=True, help="Differences shown.")
@_url_option
@operator_token_option
@_json_option
def report_command(limit: int, url: str, token: str, as_json: bool) -> None:
    """Counts by kind of change and the latest calls the candidate decides differently."""
    body = _request(url, token, "GET", "/v1/admin/policy/shadow", params={"limit": limit})
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    _print_report(body["shadow"])


@shadow.command("stop")
@_url_option
@operator_token_option
def stop_command(url: str, token: str) -> None:
    """Stop shadowing; prints the final report."""
    _print_report(_request(url, token, "DELETE", "/v1/admin/policy/shadow")["shadow"])


@click.command("promote")
@_url_option
@operator_token_option
def promote(url: str, token: str) -> None:
    """Make the shadow policy the active one (through the normal validated reload)."""
    body = _request(url, token, "POST", "/v1/admin/policy/promote")
    click.echo(f"promoted: policy version {body['version'][:12]} is active")


def _print_report(report: dict[str, Any]) -> None:
    click.echo(f"shadow {report['directory']} (version {report['version'][:12]}), loaded by {report['loaded_by']}")
    click.echo(f"{report['evaluated']} calls decided, {report['changed']} differently")
    for change, count in sorted(report["by_change"].items()):
        click.echo(f"  {change:<20} {count}")
    for d in report["differences"]:
        when = time.strftime("%H:%M:%S", time.localtime(d["ts"]))
        rule = d["candidate"]["rule"] or "default deny"
        click.echo(f"{when} {d['call_id']} {d['agent']} {d['tool']}: {d['change']} by {rule}")
