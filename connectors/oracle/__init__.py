"""HR and order data over Oracle REST Data Services (stub: `connectors.oracle.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.oracle.connector import OracleConnector
from connectors.oracle.options import OracleOptions as Options
from gateway.config import ConnectorSettings
from gateway.events import EventBus

__all__ = ["Options", "create"]


def create(settings: ConnectorSettings, events: EventBus) -> Connector:
    # This backend announces no changes: nothing is published on `events`.
    return OracleConnector(settings)
