"""The `gateway` command: run the gateway, mint development tokens, call tools."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
from collections.abc import Coroutine
from typing import Any

import click

from gateway.cli.approvals import approvals as approval_commands
from gateway.cli.audit import audit as audit_commands
from gateway.cli.policy import policy as policy_commands
from gateway.config import ConfigError, GatewayConfig, load_config

DEFAULT_CONFIG = "gateway.yaml"
DEFAULT_URL = "http://127.0.0.1:8080/mcp"


def _load(config_path: str) -> GatewayConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


config_option = click.option(
    "--config",
    "config_path",
    default=lambda: os.environ.get("GATEWAY_CONFIG", DEFAULT_CONFIG),
    show_default=f"$GATEWAY_CONFIG or {DEFAULT_CONFIG}",
    help="YAML configuration file.",
)
url_option = click.option(
    "--url",
    default=lambda: os.environ.get("GATEWAY_URL", DEFAULT_URL),
    show_default=DEFAULT_URL,
    help="The gateway's MCP endpoint ($GATEWAY_URL).",
)
token_option = click.option(
    "--token", default=lambda: os.environ.get("GATEWAY_TOKEN"), help="Bearer JWT ($GATEWAY_TOKEN)."
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def main(verbose: bool) -> None:
    """Governance gateway for AI agents' tool calls."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:
        # One line per upstream HTTP request would drown the gateway's own log.
        for noisy in ("httpx", "httpx2", "httpcore", "httpcore2", "mcp"):
            logging.getLogger(noisy).setLevel(logging.WARNING)


@main.command()
@config_option
@click.option("--host", default=None, help="Override server.host.")
@click.option("--port", type=int, default=None, help="Override server.port.")
def serve(config_path: str, host: str | None, port: int | None) -> None:
    """Run the gateway."""
    from gateway.demo import run_gateway

    config = _with_address(_load(config_path), host, port)
    _run_reporting_startup_errors(run_gateway(config))


@main.command()
@config_option
@click.option("--port", type=int, default=None, help="Port of the gateway (stubs keep their configured ports).")
def demo(config_path: str, port: int | None) -> None:
    """Run the gateway with the stub backends of its connectors, and print how to call it."""
    from gateway.demo import run_demo

    config = _with_address(_load(config_path), None, port)
    _run_reporting_startup_errors(run_demo(config))


def _run_reporting_startup_errors(main: Coroutine[Any, Any, None]) -> None:
    from gateway.approvals import ApprovalError
    from gateway.audit import AuditUnavailable
    from gateway.policy import PolicyError
    from gateway.serving import ServerFailed

    try:
        asyncio.run(main)
    except (ConfigError, PolicyError, AuditUnavailable, ApprovalError, ServerFailed) as exc:
        raise click.ClickException(f"cannot start: {exc}") from None
    except OSError as exc:
        raise click.ClickException(f"cannot start: {exc.strerror or exc} ({exc.filename or ''})") from None


def _with_address(config: GatewayConfig, host: str | None, port: int | None) -> GatewayConfig:
    from dataclasses import replace

    server = replace(config.server, **{k: v for k, v in {"host": host, "port": port}.items() if v is not None})
    return replace(config, server=server)


@main.command()
@config_option
@click.option("--sub", "subject", required=True, help="The agent's (or approver's) identity.")
@click.option("--roles", default="", help="Comma-separated roles, e.g. procurement-agent,tester.")
@click.option("--tenant", default=None, help="Tenant claim.")
@click.option("--ttl", default=3600, show_default=True, type=click.IntRange(1, 31 * 24 * 3600), help="Seconds.")
def token(config_path: str, subject: str, roles: str, tenant: str | None, ttl: int) -> None:
    """Mint a development token from the configured HS256 secret."""
    from gateway.identity import AuthError, TokenVerifier

    config = _load(config_path)
    try:
        verifier = TokenVerifier(config.identity, config.base_dir)
        minted = verifier.mint(
            subject, tuple(r.strip() for r in roles.split(",") if r.strip()), tenant=tenant, ttl_seconds=ttl
        )
    except AuthError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(minted)


@main.command()
@url_option
@token_option
def tools(url: str, token: str | None) -> None:
    """List the tools this token may use."""
    from gateway.mcp.client import ClientFailure, list_tools

    try:
        listed = asyncio.run(list_tools(url, _require(token)))
    except ClientFailure as exc:
        raise click.ClickException(str(exc)) from None
    for tool in listed:
        click.echo(f"{tool.name:40} {tool.description or ''}")


@main.command()
@click.argument("tool")
@click.option("--args", "arguments", default="{}", help="Arguments as a JSON object.")
@url_option
@token_option
def call(tool: str, arguments: str, url: str, token: str | None) -> None:
    """Call TOOL (connector.tool) through the gateway; exits 1 when the tool reports an error."""
    from gateway.mcp.client import ClientFailure, call_tool

    try:
        parsed: Any = json.loads(arguments)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON ({exc.msg} at position {exc.pos})", param_hint="--args") from None
    if not isinstance(parsed, dict):
        raise click.BadParameter("must be a JSON object", param_hint="--args")
    try:
        result = asyncio.run(call_tool(url, _require(token), tool, parsed))
    except ClientFailure as exc:
        raise click.ClickException(str(exc)) from None
    for block in result.content:
        click.echo(block.text if block.type == "text" else block.model_dump_json(by_alias=True, exclude_none=True))
    sys.exit(1 if result.is_error else 0)


def _require(token: str | None) -> str:
    if not token:
        raise click.UsageError("a token is needed: pass --token or set GATEWAY_TOKEN (see 'gateway token')")
    return token


main.add_command(audit_commands)
main.add_command(policy_commands)
main.add_command(approval_commands)

