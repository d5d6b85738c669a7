"""Checking a connector's config stanza, and reading backend secrets from it.

Each connector kind declares the JSON Schema of its own options; `check_options` reports
the first problem with the key path the operator has to fix (`connectors.sap.url: ...`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import jsonschema

from gateway.config import ConfigError, ConnectorSettings, invalid_value

#: Options every connector accepts: how the resilience wrapper treats its backend, and the
#: header that carries the calling agent's identity to the backend (on-behalf-of).
COMMON_OPTIONS: dict[str, Any] = {
    "max_concurrency": {"type": "integer", "minimum": 1, "maximum": 1024},
    "max_waiting": {"type": "integer", "minimum": 0, "maximum": 100000},
    "retries": {"type": "integer", "minimum": 0, "maximum": 10},
    "retry_backoff_seconds": {"type": "number", "minimum": 0, "maximum": 60},
    "circuit_failure_threshold": {"type": "integer", "minimum": 1, "maximum": 1000},
    "circuit_reset_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 3600},
    "on_behalf_of_header": {"type": "string", "pattern": r"^[A-Za-z0-9-]{1,64}$"},
}


def options_schema(properties: Mapping[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(required),
        "properties": {**COMMON_OPTIONS, **properties},
    }


def check_options(settings: ConnectorSettings, schema: Mapping[str, Any]) -> None:
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(dict(settings.options)), key=lambda e: e.path)
    if not errors:
        return
    error = errors[0]
    where = ".".join(["connectors", settings.name, *(str(p) for p in error.absolute_path)])
    if error.validator in ("additionalProperties", "required"):
        raise ConfigError(f"{where}: {error.message}")
    raise ConfigError(invalid_value(where, error))


def secret(settings: ConnectorSettings, key: str, environ: Mapping[str, str] | None = None) -> str | None:
    """The secret named `key`, given inline (`password: ...`) or, better, through the
    environment (`password_env: SAP_PASSWORD`). A named but unset variable is a config error:
    starting without the credential would only fail later, at the first call."""
    if key in settings.options:
        return str(settings.options[key])
    variable = settings.options.get(f"{key}_env")
    if variable is None:
        return None
    value = (os.environ if environ is None else environ).get(variable)
    if value is None:
        raise ConfigError(f"connectors.{settings.name}.{key}_env: environment variable {variable} is not set")
    return value
