"""The interface every connector implements, and the errors it may raise."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from gateway.config import ConfigError, ConnectorSettings
from gateway.errors import BackendError as BackendError
from gateway.errors import BackendTimeout as BackendTimeout
from gateway.errors import BackendUnavailable as BackendUnavailable
from gateway.events import EventBus
from gateway.models import CallerToken as CallerToken
from gateway.models import Principal, ToolResult, ToolSpec

if TYPE_CHECKING:
    from connectors.resilience import ResilientConnector


@dataclass(slots=True)
class BackendUse:
    """Filled by the connector: who the backend saw for this call (the technical user, the
    gateway's client id, or the exchanged token's subject and jti), for the audit record.
    Names only, never a credential."""

    identity: Mapping[str, str] | None = None


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a connector may know about the caller. The caller's token is there only for
    `token_exchange` auth, which trades it at the identity provider; it is never forwarded."""

    call_id: str
    principal: Principal
    traceparent: str
    #: Seconds the backend call may take before the connector gives up.
    timeout: float
    #: Run as the backend's test run: check everything, change nothing.
    dry_run: bool = False
    caller_token: CallerToken | None = field(default=None, repr=False, compare=False)
    backend: BackendUse = field(default_factory=BackendUse, compare=False)


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    detail: str = ""


@runtime_checkable
class Connector(Protocol):
    name: str

    async def start(self) -> None:
        """Open long-lived clients. Must not fail when the backend is down: the connector
        reconnects by itself, and `health()` reports the state meanwhile."""

    async def close(self) -> None: ...

    async def tools(self) -> list[ToolSpec]:
        """The tools this backend offers now (cached by the connector)."""

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        """Run one tool. Raises BackendError (or BackendUnavailable) with an agent-safe message."""

    async def health(self) -> Health: ...


def create_connector(settings: ConnectorSettings, events: EventBus | None = None) -> ResilientConnector:
    """Build the connector its config stanza names: module `connectors.<kind>`, function
    `create(settings, events)`, wrapped in the deadline, concurrency, retry and
    circuit-breaker policy every backend gets. Adding a backend kind is one module, nothing
    else. `events` is where a backend that announces changes (tools, listings, resources)
    publishes them; without one they reach nobody."""
    from connectors.options import options_model
    from connectors.resilience import resilient

    if options_model(settings.kind) is None:
        raise ConfigError(f"connectors.{settings.name}.kind: unknown connector kind {settings.kind!r}")
    module = importlib.import_module(f"connectors.{settings.kind}")
    return resilient(module.create(settings, events or EventBus()), settings)
