"""CICS-style transactions over TCP with EBCDIC COMMAREAs laid out by COBOL copybooks
(stub: `connectors.mainframe.stub`)."""

from __future__ import annotations

from connectors.base import Connector
from connectors.mainframe.connector import MainframeConnector
from gateway.config import ConnectorSettings


def create(settings: ConnectorSettings) -> Connector:
    return MainframeConnector(settings)
