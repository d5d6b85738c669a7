"""CICS-style transactions over TCP with EBCDIC COMMAREAs laid out by COBOL copybooks
(stub: `connectors.mainframe.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.mainframe.connector import MainframeConnector
from gateway.config import ConnectorSettings
from gateway.events import EventBus


def create(settings: ConnectorSettings, events: EventBus) -> Connector:
    # This backend announces no changes: nothing is published on `events`.
    return MainframeConnector(settings)
