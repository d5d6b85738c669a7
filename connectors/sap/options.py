"""Options of an `sap` connector stanza."""

from __future__ import annotations

from pydantic import Field

from connectors.options import ConnectorOptions
from gateway.config import Secret


class SapOptions(ConnectorOptions):
    """An SAP Gateway OData V2 service, signed in with basic auth."""

    url: str = Field(pattern=r"^https?://", description="Base URL of the OData service.")
    username: str = Field(min_length=1, description="The technical user.")
    password: Secret = Field(description="The technical user's password.")
    test_run: bool = Field(
        False, description="The service supports SAP's test run: dry-run calls are simulated there, not refused."
    )
