"""SAP purchasing over an SAP Gateway OData V2 service (stub: `connectors.sap.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.sap.connector import SapConnector
from connectors.sap.options import SapOptions as Options
from gateway.config import ConnectorSettings
from gateway.events import EventBus

__all__ = ["Options", "create"]


def create(settings: ConnectorSettings, events: EventBus) -> Connector:
    # This backend announces no changes: nothing is published on `events`.
    return SapConnector(settings)
