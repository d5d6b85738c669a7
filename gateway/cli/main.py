"""The `gateway` command: run the gateway, mint development tokens, call tools."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Coroutine
from typing import Any

import click

from gateway.cli.agent import call, tools
from gateway.cli.agents import agents as agent_commands
from gateway.cli.approvals import approvals as approval_commands
from gateway.cli.audit import audit as audit_commands
from gateway.cli.config import config as config_commands
from gateway.cli.locate import DEFAULT_CONFIG
from gateway.cli.login import connect, login, logout
from gateway.cli.output import InertError
from gateway.cli.policy import policy as policy_commands
from gateway.cli.shadow import promote as promote_command
from gateway.cli.shadow import shadow as shadow_commands
from gateway.cli.tools import REVIEW_COMMANDS
from gateway.cli.undo import undo as undo_command
from gateway.config import ConfigError, GatewayConfig, load_config


def _load(config_path: str) -> GatewayConfig:
    try:
        return load_config(config_path)
    except ConfigError as exc:
        raise InertError(f"configuration error: {exc}") from None


config_option = click.option(
    "--config",
    "config_path",
    default=lambda: os.environ.get("GATEWAY_CONFIG", DEFAULT_CONFIG),
    show_default=f"$GATEWAY_CONFIG or {DEFAULT_CONFIG}",
    help="YAML configuration file.",
)


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at debug level.")
def main(verbose: bool) -> None:
    """Governance gateway for AI agents' tool calls."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # httpx logs each request's full URL, and a webhook URL is a secret (its token is in it).
    for naming_urls in ("httpx", "httpx2"):
        logging.getLogger(naming_urls).setLevel(logging.WARNING)
    if not verbose:
        # One line per upstream HTTP request would drown the gateway's own log.
        for noisy in ("httpcore", "httpcore2", "mcp"):
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
    _run_reporting_startup_errors(run_demo(config, config_path))


def _run_reporting_startup_errors(main: Coroutine[Any, Any, None]) -> None:
    from gateway.approvals import ApprovalError
    from gateway.audit import AuditUnavailable
    from gateway.pins.gate import PinError
    from gateway.policy import PolicyError
    from gateway.serving import ServerFailed
    from gateway.suspensions import SuspensionError

    try:
        asyncio.run(main)
    except (ConfigError, PolicyError, AuditUnavailable, ApprovalError, SuspensionError, PinError, ServerFailed) as exc:
        raise InertError(f"cannot start: {exc}") from None
    except OSError as exc:
        raise InertError(f"cannot start: {exc.strerror or exc} ({exc.filename or ''})") from None


def _with_address(config: GatewayConfig, host: str | None, port: int | None) -> GatewayConfig:
    given = {k: v for k, v in {"host": host, "port": port}.items() if v is not None}
    return config.model_copy(update={"server": config.server.model_copy(update=given)})


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
        raise InertError(str(exc)) from None
    click.echo(minted)


main.add_command(tools)
for review_command in REVIEW_COMMANDS:
    tools.add_command(review_command)
main.add_command(call)
main.add_command(login)
main.add_command(logout)
main.add_command(connect)
main.add_command(audit_commands)
main.add_command(policy_commands)
main.add_command(approval_commands)
main.add_command(config_commands)
main.add_command(agent_commands)
main.add_command(undo_command)
policy_commands.add_command(shadow_commands)
policy_commands.add_command(promote_command)
