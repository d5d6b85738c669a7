"""`gateway undo`: list, newest first, what would take back an agent's calls, and run it."""

from __future__ import annotations

import json
from typing import Any

import click

from gateway.cli.agents import operator_token_option
from gateway.cli.approvals import _json_option, _request, _url_option

_STATE_WORDS = {
    "compensable": "would run",
    "no_compensation": "NO COMPENSATION",
    "already_compensated": "already taken back",
    "read_only": "read-only",
    "is_compensation": "is itself an undo",
}


@click.command("undo")
@click.option("--trace", "trace_id", help="Every call of this trace.")
@click.option("--call", "call_id", help="One call.")
@click.option("--agent", help="Calls of this agent (subject) ...")
@click.option("--since", help="... received at or after this time (ISO 8601 or unix seconds).")
@click.option("--execute", is_flag=True, help="Run the compensations (default: only list them).")
@_url_option
@operator_token_option
@_json_option
def undo(
    trace_id: str | None,
    call_id: str | None,
    agent: str | None,
    since: str | None,
    execute: bool,
    url: str,
    token: str,
    as_json: bool,
) -> None:
    """Take back what agents did: the compensations in reverse order (a dry run unless
    --execute), each run through the gateway as your own call and linked to its original."""
    if len([x for x in (trace_id, call_id, agent) if x]) != 1 or bool(agent) != bool(since):
        raise click.UsageError("name one of --trace ID, --call ID or --agent SUBJECT --since TIME")
    selector = {"trace_id": trace_id, "call_id": call_id, "agent": agent, "since": since}
    body = _request(
        url, token, "POST", "/v1/admin/undo", json={**{k: v for k, v in selector.items() if v}, "execute": execute}
    )
    if as_json:
        click.echo(json.dumps(body, indent=2))
        return
    if not body["steps"]:
        click.echo(f"nothing to take back for {body['selector']}")
    for step in body["steps"]:
        click.echo(_line(step))
    if not execute and any(s["state"] == "compensable" for s in body["steps"]):
        click.echo("(dry run: nothing was changed; add --execute to run the compensations)")


def _line(step: dict[str, Any]) -> str:
    head = f"{step['call_id']}  {step['tool']:<32} {step['agent'] or '-':<14}"
    if step["state"] != "compensable":
        return f"{head} {_STATE_WORDS[step['state']]}: {step['note']}"
    compensation = step["compensation"]
    line = f"{head} -> {compensation['tool']} {json.dumps(compensation['arguments'])}"
    outcome = step.get("outcome")
    if outcome:
        line += f"  [{outcome['status']}: {outcome['detail'][:120]}]"
    return line
