"""Connector stanzas: `connectors.<name>` in the file, one `ConnectorSettings` each.

The options a stanza may hold are declared by its kind (`connectors.<kind>.Options`, a
`connectors.options.ConnectorOptions`), so a misspelled or mistyped option is reported at
load time with its full key path, by `gateway config check` too."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from gateway.config.problems import problems
from gateway.config.secrets import SecretSources
from gateway.config.sections import CONNECTOR_NAME

_KIND = re.compile(r"^[a-z][a-z0-9_]*$")


class ConnectorSettings(BaseModel):
    """One connector as the connector code sees it: `options` holds the stanza's keys other
    than `kind` and `timeout_seconds`, checked against the kind's options model, with
    secret references resolved."""

    model_config = ConfigDict(frozen=True)

    name: str
    kind: str
    timeout_seconds: float = 30.0
    options: Mapping[str, Any] = Field(default_factory=dict)

    def __init__(
        self, name: str, kind: str, timeout_seconds: float = 30.0, options: Mapping[str, Any] | None = None
    ) -> None:
        # Positional arguments too, as connector tests and stubs build settings by hand.
        super().__init__(name=name, kind=kind, timeout_seconds=timeout_seconds, options=options or {})


def _stanza(name: str, stanza: Any, sources: SecretSources) -> ConnectorSettings | list[str]:
    # Imported here: connector kinds import this package for ConnectorSettings.
    from connectors.options import known_kinds, stanza_model

    where = f"connectors.{name}"
    if not re.match(CONNECTOR_NAME, name):
        return [f"{where}: invalid connector name (a letter, then up to 63 letters, digits, '-' or '_')"]
    if not isinstance(stanza, Mapping):
        return [f"{where}: expected a mapping of options, got {type(stanza).__name__}"]
    kind = stanza.get("kind")
    if kind is None:
        return [f"{where}.kind: required"]
    model = stanza_model(kind) if isinstance(kind, str) and _KIND.match(kind) else None
    if model is None:
        return [f"{where}.kind: unknown connector kind {kind!r} (known: {', '.join(known_kinds())})"]
    try:
        checked = model.model_validate(stanza, strict=True, context=sources)
    except ValidationError as exc:
        return problems(exc, model, ("connectors", name))
    options = checked.model_dump(exclude_unset=True, exclude={"kind", "timeout_seconds"})
    timeout = checked.model_dump(include={"timeout_seconds"})["timeout_seconds"]
    return ConnectorSettings(name=name, kind=kind, timeout_seconds=timeout, options=options)


def connector_settings(raw: Any, sources: SecretSources) -> tuple[tuple[ConnectorSettings, ...], list[str]]:
    """The connectors of the `connectors` mapping, and every problem found in it."""
    if raw is None:
        return (), []
    if not isinstance(raw, Mapping):
        return (), [f"connectors: expected a mapping of connector names to stanzas, got {type(raw).__name__}"]
    found: list[ConnectorSettings] = []
    errors: list[str] = []
    for name, stanza in raw.items():
        result = _stanza(str(name), stanza, sources)
        if isinstance(result, list):
            errors.extend(result)
        else:
            found.append(result)
    return tuple(found), errors
