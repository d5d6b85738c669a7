"""Any HTTP API from its OpenAPI 3 document (stub: `connectors.openapi.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.openapi.connector import OpenApiConnector
from connectors.openapi.options import OpenApiOptions as Options
from gateway.config import ConnectorSettings
from gateway.events import EventBus

__all__ = ["Options", "create"]


def create(settings: ConnectorSettings, events: EventBus) -> Connector:
    # This backend announces no changes: nothing is published on `events`.
    return OpenApiConnector(settings)
