"""SAP purchasing over an SAP Gateway OData V2 service (stub: `connectors.sap.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.sap.connector import SapConnector
from connectors.sap.options import SapOptions as Options
from gateway.config import ConnectorSettings

__all__ = ["Options", "create"]


def create(settings: ConnectorSettings) -> Connector:
    return SapConnector(settings)
