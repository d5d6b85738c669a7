"""`gateway tools` and `gateway call`: what an agent sees and does, from a terminal.

Exit codes of `gateway call`: 0 the tool answered; 1 the tool answered with an error (a
refusal, a denial, a backend failure) or the gateway could not be asked; 2 a usage error;
3 the call is held for approval and was not decided within the wait (its approval id is
printed; call again with the same arguments, or ask `gateway.approval_status`).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

import click
import mcp_types as types

from gateway.approvals.mcp_agent import MAY_NEED_APPROVAL_META
from gateway.cli.output import InertError, echo_json, inert

DEFAULT_URL = "http://127.0.0.1:8080"
#: `gateway call`'s exit code for a call held for approval and not yet decided.
EXIT_PENDING = 3

url_option = click.option(
    "--url",
    default=lambda: os.environ.get("GATEWAY_URL", DEFAULT_URL),
    show_default=DEFAULT_URL,
    help="The gateway: its base URL or its /mcp endpoint ($GATEWAY_URL).",
)
token_option = click.option(
    "--token", default=lambda: os.environ.get("GATEWAY_TOKEN"), help="Bearer JWT ($GATEWAY_TOKEN)."
)


def _require(token: str | None) -> str:
    if not token:
        raise click.UsageError("a token is needed: pass --token or set GATEWAY_TOKEN (see 'gateway token')")
    return token


def _tool_json(tool: types.Tool) -> dict[str, Any]:
    meta = tool.meta or {}
    return {
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "input_schema": tool.input_schema,
        "read_only": bool(tool.annotations and tool.annotations.read_only_hint),
        "may_need_approval": bool(meta.get(MAY_NEED_APPROVAL_META, False)),
    }


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="json: every tool with its input schema.",
)
@url_option
@token_option
def tools(output: str, url: str, token: str | None) -> None:
    """List the tools this token may use; `approval` marks those the policy may hold for people."""
    from gateway.mcp.client import ClientFailure, list_tools

    try:
        listed = [_tool_json(t) for t in asyncio.run(list_tools(url, _require(token)))]
    except ClientFailure as exc:
        raise InertError(str(exc)) from None
    if output == "json":
        echo_json(listed, indent=2)
        return
    width = max((len(inert(t["name"])) for t in listed), default=4)
    click.echo(f"{'TOOL':<{width}}  {'MAY HOLD':<8}  DESCRIPTION")
    for t in listed:
        held = "approval" if t["may_need_approval"] else "-"
        click.echo(f"{inert(t['name']):<{width}}  {held:<8}  {inert(t['description'] or '')}")


def _parse_arguments(arguments: str) -> dict[str, Any]:
    try:
        parsed: Any = json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at position {exc.pos})", param_hint="--args") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--args")
    return parsed


async def _progress(progress: float, total: float | None, message: str | None) -> None:
    # Progress goes to stderr: stdout stays the tool's answer.
    text = message or (f"{progress:g} of {total:g}" if total else f"{progress:g}")
    click.echo(f"... {inert(text)}", err=True)


@click.command()
@click.argument("tool")
@click.option("--args", "arguments", default="{}", help="Arguments as a JSON object.")
@click.option(
    "--wait",
    "wait",
    type=click.FloatRange(min=0),
    default=None,
    help="Seconds a call held for approval may wait for the decision (default: the gateway's max_hold_seconds).",
)
@click.option("--no-wait", is_flag=True, help="If the call is held, answer 'pending' at once (exit 3).")
@url_option
@token_option
def call(tool: str, arguments: str, wait: float | None, no_wait: bool, url: str, token: str | None) -> None:
    """Call TOOL (connector.tool) through the gateway, showing approval progress on stderr.

    Exits 0 when the tool answered, 1 on an error answer, 3 when the call is still held
    for approval (pending) after the wait."""
    from gateway.mcp.client import ClientFailure, call_tool

    if no_wait and wait is not None:
        raise click.UsageError("--wait and --no-wait exclude each other")
    parsed = _parse_arguments(arguments)
    how_long: float | bool | None = False if no_wait else wait
    try:
        result = asyncio.run(call_tool(url, _require(token), tool, parsed, wait=how_long, on_progress=_progress))
    except ClientFailure as exc:
        raise InertError(str(exc)) from None
    for block in result.content:
        if block.type == "text":
            click.echo(inert(block.text, block=True))
        else:
            echo_json(block.model_dump(mode="json", by_alias=True, exclude_none=True))
    structured = result.structured_content or {}
    if structured.get("status") == "pending":
        click.echo(f"pending: approval {inert(structured.get('approval_id'))}", err=True)
        sys.exit(EXIT_PENDING)
    sys.exit(1 if result.is_error else 0)
