"""HR and order data over Oracle REST Data Services (stub: `connectors.oracle.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.oracle.connector import OracleConnector
from connectors.oracle.options import OracleOptions as Options
from gateway.config import ConnectorSettings

__all__ = ["Options", "create"]


def create(settings: ConnectorSettings) -> Connector:
    return OracleConnector(settings)
