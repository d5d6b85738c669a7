"""`gateway config`: check a config file, print its JSON Schema."""

from __future__ import annotations

import json
import os
import sys

import click

from gateway.cli.locate import DEFAULT_CONFIG
from gateway.config import ConfigError, GatewayConfig, load_config


@click.group()
def config() -> None:
    """Check the configuration file, or print its schema."""


def _connector_problems(loaded: GatewayConfig) -> list[str]:
    """What building each connector finds beyond the options (unreadable spec or copybooks)."""
    from connectors.base import create_connector

    found: list[str] = []
    for settings in loaded.connectors:
        try:
            create_connector(settings)
        except ConfigError as exc:
            found.extend(exc.problems)
    return found


@config.command()
@click.argument("file", required=False)
def check(file: str | None) -> None:
    """Validate FILE ($GATEWAY_CONFIG or gateway.yaml) with the environment's overrides and
    secret references; print every problem and exit 1 if there is any. Connectors whose
    credentials would travel unencrypted are warned about (exit 0)."""
    path = file or os.environ.get("GATEWAY_CONFIG", DEFAULT_CONFIG)
    try:
        loaded = load_config(path)
    except ConfigError as exc:
        problems = list(exc.problems)
    else:
        problems = _connector_problems(loaded)
    if problems:
        for problem in problems:
            click.echo(f"{path}: {problem}", err=True)
        sys.exit(1)
    from connectors.options import cleartext_warnings

    for name, warning in cleartext_warnings(loaded.connectors).items():
        click.echo(f"{path}: warning: connectors.{name}: {warning}", err=True)
    click.echo(f"{path}: OK ({len(loaded.connectors)} connectors)")


@config.command()
def schema() -> None:
    """Print the JSON Schema of the config file (for editors: see the README)."""
    from gateway.config.schema import config_schema

    click.echo(json.dumps(config_schema(), indent=2))
