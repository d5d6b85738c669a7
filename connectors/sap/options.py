"""Options of an `sap` connector stanza."""

from __future__ import annotations

from pydantic import Field, model_validator

from connectors.options import ConnectorOptions
from connectors.tls import check_scheme, cleartext_over_http
from gateway.config import Secret


class SapOptions(ConnectorOptions):
    """An SAP Gateway OData V2 service, signed in with basic auth."""

    url: str = Field(pattern=r"^https?://", description="Base URL of the OData service.")
    username: str = Field(min_length=1, description="The technical user.")
    password: Secret = Field(description="The technical user's password.")
    test_run: bool = Field(
        False, description="The service supports SAP's test run: dry-run calls are simulated there, not refused."
    )

    @model_validator(mode="after")
    def _tls_needs_https(self) -> SapOptions:
        check_scheme(self.tls, self.url, "url")
        return self

    def cleartext_warning(self) -> str | None:
        return cleartext_over_http(self.url, "url", "the technical user and password")
