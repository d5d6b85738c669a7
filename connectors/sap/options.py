"""Options of an `sap` connector stanza."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from connectors.auth import BackendAuthSettings, refuse_moved_keys, require_token_url
from connectors.options import ConnectorOptions


class SapOptions(ConnectorOptions):
    """An SAP Gateway OData V2 service."""

    url: str = Field(pattern=r"^https?://", description="Base URL of the OData service.")
    auth: BackendAuthSettings = Field(
        description="How the gateway signs in: `basic` (a technical user), `oauth_client_credentials`, or "
        "`token_exchange` (the person the agent acts for, with SAP's own authorizations)."
    )
    test_run: bool = Field(
        False, description="The service supports SAP's test run: dry-run calls are simulated there, not refused."
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return refuse_moved_keys(data, {"username": "basic", "password": "basic"})

    @model_validator(mode="after")
    def _token_url(self) -> Self:
        require_token_url(self.auth)
        return self
