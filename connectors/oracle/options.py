"""Options of an `oracle` connector stanza."""

from __future__ import annotations

from pydantic import Field, model_validator

from connectors.options import ConnectorOptions
from connectors.tls import check_scheme, cleartext_over_http
from gateway.config import Secret


class OracleOptions(ConnectorOptions):
    """Oracle REST Data Services, signed in with OAuth2 client credentials."""

    url: str = Field(pattern=r"^https?://", description="ORDS schema URL, e.g. https://host/ords/hr.")
    client_id: str = Field(min_length=1, description="OAuth2 client id registered in ORDS.")
    client_secret: Secret = Field(description="OAuth2 client secret.")

    @model_validator(mode="after")
    def _tls_needs_https(self) -> OracleOptions:
        check_scheme(self.tls, self.url, "url")
        return self

    def cleartext_warning(self) -> str | None:
        return cleartext_over_http(self.url, "url", "the OAuth client secret and its tokens")
