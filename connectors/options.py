"""Connector options: what every stanza accepts, and how a kind declares its own.

A kind's module `connectors.<kind>` exposes `Options`, a subclass of `ConnectorOptions`
with one typed field per option. The config loader checks each stanza against it (every
problem named with its path: `connectors.sap.pasword: unknown key (did you mean
'password'?)`), and the connector reads its values through `Options.of(settings)`.
"""

from __future__ import annotations

import functools
import importlib
import pkgutil
from collections.abc import Iterable
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, model_validator

from connectors.tls import TlsOptions
from gateway.config import ConfigError, ConnectorSettings, KeyProblem
from gateway.config.problems import problems

#: Header names the gateway may set toward a backend.
HEADER_NAME = r"^[A-Za-z0-9-]{1,64}$"


class ConnectorOptions(BaseModel):
    """Options every connector accepts: how the resilience wrapper treats its backend, and
    the header that carries the calling agent's identity to the backend (on-behalf-of)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_concurrency: int = Field(16, ge=1, le=1024, description="Calls in flight to this backend at once.")
    max_waiting: int = Field(
        64,
        ge=0,
        le=100_000,
        description="Calls that may wait for a slot; past it a call is refused at once (503 backend_busy).",
    )
    retries: int = Field(2, ge=0, le=10, description="Retries of a failed read-only call (writes never).")
    retry_backoff_seconds: float = Field(0.1, ge=0, le=60, description="Delay before the first retry (doubles).")
    circuit_failure_threshold: int = Field(5, ge=1, le=1000, description="Failures in a row that open the circuit.")
    circuit_reset_seconds: float = Field(
        30.0, gt=0, le=3600, description="How long an open circuit refuses calls before one probe."
    )
    on_behalf_of_header: str | None = Field(
        None, pattern=HEADER_NAME, description="Header carrying the calling agent's subject to the backend."
    )
    tls: TlsOptions | None = Field(
        None, description="TLS toward the backend: CA, client certificate, expected name, pins, minimum version."
    )

    @model_validator(mode="after")
    def _mtls_has_a_certificate(self) -> Self:
        # Read by its `kind`: the auth models are the kinds' own (connectors.auth).
        if getattr(getattr(self, "auth", None), "kind", None) == "mtls" and (
            self.tls is None or self.tls.client_cert is None
        ):
            raise KeyProblem(
                "auth",
                "kind mtls: the backend knows the gateway by its client certificate: set tls.client_cert and "
                "tls.client_key",
            )
        return self

    def cleartext_warning(self) -> str | None:
        """Why credentials reach this backend unencrypted, when they do (logged at start-up,
        shown to operators in /readyz); None when they do not. Each kind says for itself."""
        return None

    @classmethod
    def of(cls, settings: ConnectorSettings) -> Self:
        """The stanza's options as this model; ConfigError naming each bad key."""
        try:
            return cls.model_validate(dict(settings.options))
        except ValidationError as exc:
            raise ConfigError(problems(exc, cls, ("connectors", settings.name))) from None

    @classmethod
    def common(cls, settings: ConnectorSettings) -> ConnectorOptions:
        """Only the options every connector shares (the kind's own are checked by the kind)."""
        shared = {k: v for k, v in settings.options.items() if k in ConnectorOptions.model_fields}
        return ConnectorOptions.of(settings.model_copy(update={"options": shared}))


def options_model(kind: str) -> type[ConnectorOptions] | None:
    """The options model of a connector kind; None when there is no such kind."""
    try:
        module = importlib.import_module(f"connectors.{kind}")
    except ModuleNotFoundError as exc:
        if exc.name is not None and f"connectors.{kind}".startswith(exc.name):
            return None
        raise
    model = getattr(module, "Options", None)
    return model if isinstance(model, type) and issubclass(model, ConnectorOptions) else None


def known_kinds() -> list[str]:
    """Every connector kind installed: the modules under `connectors` that declare Options."""
    import connectors

    return [m.name for m in pkgutil.iter_modules(connectors.__path__) if options_model(m.name) is not None]


def cleartext_warnings(stanzas: Iterable[ConnectorSettings]) -> dict[str, str]:
    """The connectors whose credentials travel unencrypted, each with the reason."""
    found = {}
    for settings in stanzas:
        model = options_model(settings.kind)
        warning = model.of(settings).cleartext_warning() if model is not None else None
        if warning is not None:
            found[settings.name] = warning
    return found


@functools.cache
def stanza_model(kind: str) -> type[ConnectorOptions] | None:
    """A whole stanza of this kind: its options plus `kind` and `timeout_seconds`."""
    options = options_model(kind)
    if options is None:
        return None
    return create_model(
        f"{kind.title()}Connector",
        __base__=options,
        __doc__=options.__doc__,
        kind=(Literal[kind], Field(description="The connector kind.")),  # type: ignore[arg-type]
        timeout_seconds=(float, Field(30.0, gt=0, description="Deadline of one backend call, in seconds.")),
    )
