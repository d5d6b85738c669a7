"""Options of an `sap` connector stanza."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from connectors.auth import BackendAuthSettings, refuse_moved_keys, require_token_url, sent_in_clear
from connectors.options import ConnectorOptions
from connectors.tls import check_scheme


class SapOptions(ConnectorOptions):
    """An SAP Gateway OData V2 service."""

    url: str = Field(pattern=r"^https?://", description="Base URL of the OData service.")
    auth: BackendAuthSettings = Field(
        description="How the gateway signs in: `basic` (a technical user), `oauth_client_credentials`, "
        "`token_exchange` (the person the agent acts for, with SAP's own authorizations) or `mtls`."
    )
    test_run: bool = Field(
        False, description="The service supports SAP's test run: dry-run calls are simulated there, not refused."
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return refuse_moved_keys(data, {"username": "basic", "password": "basic"})

    @model_validator(mode="after")
    def _checked(self) -> Self:
        require_token_url(self.auth)
        check_scheme(self.tls, self.url, "url")
        return self

    def cleartext_warning(self) -> str | None:
        return sent_in_clear(self.auth, self.url, "url")
