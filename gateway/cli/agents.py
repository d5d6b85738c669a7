"""`gateway agents suspend|resume|list`: the kill switch from a terminal, through the
gateway's REST API (admin role), so every replica enforces it and it is audited."""

from __future__ import annotations

import json
import time
from typing import Any

import click

from gateway.cli.approvals import _json_option, _request, _url_option

#: The incident-response commands act as an operator (the admin role), not as an approver.
operator_token_option = click.option(
    "--token", envvar="GATEWAY_TOKEN", required=True, help="The operator's bearer JWT, admin role (env GATEWAY_TOKEN)."
)


def _target(subject: str | None, client: str | None, tenant: str | None, everything: bool) -> dict[str, Any]:
    """SUBJECT [--tenant T] | --client C [--tenant T] | --tenant T | --all, as the API's body."""
    chosen = [name for name, given in (("SUBJECT", subject), ("--client", client), ("--all", everything)) if given]
    if len(chosen) > 1:
        raise click.UsageError(f"name one target, not {' and '.join(chosen)}")
    if everything:
        if tenant:
            raise click.UsageError("--all suspends every tenant; leave out --tenant")
        return {"scope": "all"}
    if subject:
        return {"scope": "subject", "value": subject, "tenant": tenant}
    if client:
        return {"scope": "client", "value": client, "tenant": tenant}
    if tenant:
        return {"scope": "tenant", "value": tenant}
    raise click.UsageError("name a target: SUBJECT, --client C, --tenant T or --all")


def _line(s: dict[str, Any]) -> str:
    what = "everything" if s["scope"] == "all" else f"{s['scope']} {s['value']}"
    where = f" (tenant {s['tenant']})" if s.get("tenant") else ""
    when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["suspended_at"]))
    state = "active" if s["active"] else f"resumed by {s['resumed_by']}"
    return f"{s['suspension_id']}  {what}{where}  {state}  {when} by {s['suspended_by']} ({s['source']}): {s['reason']}"


_target_options = [
    click.argument("subject", required=False),
    click.option("--tenant", help="Only in this tenant; alone: the whole tenant."),
    click.option("--client", help="An agent application (the token's client_id or azp claim)."),
    click.option("--all", "everything", is_flag=True, help="Every agent of every tenant."),
]


def _with_target(command: Any) -> Any:
    for option in reversed(_target_options):
        command = option(command)
    return command


@click.group("agents")
def agents() -> None:
    """Suspend agents at once (kill switch), list suspensions, resume them."""


@agents.command("suspend")
@_with_target
@click.option("--reason", required=True, help="Why; audited and shown to the agent.")
@_url_option
@operator_token_option
@_json_option
def suspend_command(
    subject: str | None,
    tenant: str | None,
    client: str | None,
    everything: bool,
    reason: str,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    """Refuse every new call of SUBJECT (or a client, tenant or everything) on every replica,
    deny its held calls and cancel its calls in flight."""
    body = _request(
        url,
        token,
        "POST",
        "/v1/admin/suspensions",
        json={**_target(subject, client, tenant, everything), "reason": reason},
    )
    click.echo(json.dumps(body, indent=2) if as_json else f"suspended: {_line(body['suspension'])}")


@agents.command("resume")
@_with_target
@click.option("--id", "suspension_id", help="The suspension to lift (instead of naming its target).")
@click.option("--reason", required=True, help="Why it may run again; audited.")
@_url_option
@operator_token_option
@_json_option
def resume_command(
    subject: str | None,
    tenant: str | None,
    client: str | None,
    everything: bool,
    suspension_id: str | None,
    reason: str,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    """Lift the suspension of SUBJECT (or of a client, tenant, everything, or --id)."""
    if suspension_id is None:
        wanted = _target(subject, client, tenant, everything)
        active = _request(url, token, "GET", "/v1/admin/suspensions", params={"state": "active"})["suspensions"]
        found = [s for s in active if all(s.get(k) == v for k, v in wanted.items())]
        if not found:
            raise click.ClickException("no active suspension of that target (see 'gateway agents list --suspended')")
        suspension_id = found[0]["suspension_id"]
    body = _request(url, token, "POST", f"/v1/admin/suspensions/{suspension_id}/resume", json={"reason": reason})
    click.echo(json.dumps(body, indent=2) if as_json else f"resumed: {_line(body['suspension'])}")


@agents.command("list")
@click.option("--suspended", is_flag=True, help="Only suspensions in force (the default).")
@click.option("--all", "history", is_flag=True, help="Resumed suspensions too, newest first.")
@click.option("--limit", type=click.IntRange(1, 500), default=100, show_default=True)
@_url_option
@operator_token_option
@_json_option
def list_command(suspended: bool, history: bool, limit: int, url: str, token: str, as_json: bool) -> None:
    """Suspensions in force (or, with --all, every suspension)."""
    state = "all" if history and not suspended else "active"
    body = _request(url, token, "GET", "/v1/admin/suspensions", params={"state": state, "limit": limit})
    if as_json:
        click.echo(json.dumps(body, indent=2))
    elif not body["suspensions"]:
        click.echo("no agent is suspended" if state == "active" else "no suspensions")
    for s in [] if as_json else body["suspensions"]:
        click.echo(_line(s))
