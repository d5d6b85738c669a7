"""The interface every connector implements, and the errors it may raise."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from gateway.config import ConfigError, ConnectorSettings
from gateway.events import EventBus
from gateway.models import Principal, ToolResult, ToolSpec

if TYPE_CHECKING:
    from connectors.resilience import ResilientConnector


@dataclass(frozen=True, slots=True)
class CallContext:
    """What a connector may know about the caller; never the caller's credentials."""

    call_id: str
    principal: Principal
    traceparent: str
    #: Seconds the backend call may take before the connector gives up.
    timeout: float
    #: Run as the backend's test run: check everything, change nothing.
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class Health:
    healthy: bool
    detail: str = ""


class BackendError(Exception):
    """The backend could not serve the call. The message is shown to the agent, so it
    must say what went wrong without internal detail (no tracebacks, no credentials);
    the gateway puts the backend's name in front of it."""


class BackendUnavailable(BackendError):
    """The backend did not answer (down, refused, timed out); the call may be retried later."""


class BackendTimeout(BackendUnavailable):
    """The backend did not answer within the call's deadline."""


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
    from connectors.resilience import resilient

    try:
        module = importlib.import_module(f"connectors.{settings.kind}")
    except ModuleNotFoundError:
        raise ConfigError(f"connectors.{settings.name}.kind: unknown connector kind {settings.kind!r}") from None
    return resilient(module.create(settings, events or EventBus()), settings)
