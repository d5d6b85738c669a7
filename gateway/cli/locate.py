"""Which configuration file and audit database a command means when none is named.

The order is the one `gateway serve` uses: `--config`, then `$GATEWAY_CONFIG`, then
`gateway.yaml` in the working directory; the audit commands then read the database that
configuration writes to, so they look where the running gateway records.
"""

from __future__ import annotations

from pathlib import Path

import click

from gateway.audit.postgres_store import is_postgres_url
from gateway.cli.output import InertError
from gateway.config import AuditSettings, ConfigError, load_config

DEFAULT_CONFIG = "gateway.yaml"

config_option = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar="GATEWAY_CONFIG",
    help=f"Gateway config file (default: $GATEWAY_CONFIG, else {DEFAULT_CONFIG} if present).",
)

#: Where the log is: a SQLite file, or the URL of a PostgreSQL database.
Location = Path | str


def config_file(given: Path | None) -> Path | None:
    """The config file a command reads: the one given (--config, $GATEWAY_CONFIG), else
    ./gateway.yaml when it exists, else none."""
    if given is not None:
        return given
    default = Path(DEFAULT_CONFIG)
    return default if default.is_file() else None


def audit_settings(given: Path | None) -> tuple[AuditSettings, Path] | None:
    """The audit section of the config in force and the directory its paths are relative to."""
    path = config_file(given)
    if path is None:
        return None
    try:
        config = load_config(path)
    except ConfigError as exc:
        raise InertError(f"{path}: {exc}") from None
    return config.audit, config.base_dir


def audit_database(given: Path | None, db: str | None) -> Location:
    """--db when given (relative to the working directory), else the configured database."""
    if db is not None:
        return db if is_postgres_url(db) else Path(db)
    found = audit_settings(given)
    if found is None:
        raise click.UsageError(
            f"which audit database? Pass --db, or --config FILE (or set $GATEWAY_CONFIG, or run where "
            f"{DEFAULT_CONFIG} is); after `make demo`: --config gateway.example.yaml"
        )
    settings, base = found
    if is_postgres_url(settings.database):
        return settings.database
    path = Path(settings.database)
    return path if path.is_absolute() else base / path
