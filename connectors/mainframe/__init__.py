"""CICS-style transactions over TCP with EBCDIC COMMAREAs laid out by COBOL copybooks
(stub: `connectors.mainframe.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.mainframe.connector import MainframeConnector
from connectors.mainframe.options import MainframeOptions as Options
from gateway.config import ConnectorSettings
from gateway.events import EventBus

__all__ = ["Options", "create"]


def create(settings: ConnectorSettings, events: EventBus) -> Connector:
    # This backend announces no changes: nothing is published on `events`.
    return MainframeConnector(settings)
