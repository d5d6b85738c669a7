"""Options of an `openapi` connector stanza."""

from __future__ import annotations

from pydantic import Field, model_validator

from connectors.auth.mtls import MtlsAuth
from connectors.options import HEADER_NAME, ConnectorOptions
from connectors.tls import check_scheme, cleartext_over_http
from gateway.config import Secret


class OpenApiOptions(ConnectorOptions):
    """Any HTTP API described by an OpenAPI 3 document."""

    spec: str = Field(min_length=1, description="Path or http(s) URL of the OpenAPI document.")
    base_url: str | None = Field(None, pattern=r"^https?://", description="API base URL; default: the document's.")
    operations: tuple[str, ...] | None = Field(
        None, min_length=1, description="operationIds to offer as tools; default: all."
    )
    bearer_token: Secret | None = Field(None, description="Sent as `Authorization: Bearer ...`.")
    api_key: Secret | None = Field(None, description="Sent in the api_key_header.")
    api_key_header: str = Field("X-API-Key", pattern=HEADER_NAME, description="Header carrying api_key.")
    username: str | None = Field(None, min_length=1, description="Basic auth user.")
    password: Secret | None = Field(None, description="Basic auth password.")
    auth: MtlsAuth | None = Field(
        None, description="`kind: mtls`: the API knows the gateway by its client certificate."
    )

    @model_validator(mode="after")
    def _tls_needs_https(self) -> OpenApiOptions:
        check_scheme(self.tls, self.spec, "spec")
        check_scheme(self.tls, self.base_url, "base_url")
        return self

    def cleartext_warning(self) -> str | None:
        if self.bearer_token is None and self.api_key is None and self.password is None:
            return None
        # The document is fetched with the same headers as the calls.
        what = "the API credentials"
        return cleartext_over_http(self.spec, "spec", what) or cleartext_over_http(self.base_url, "base_url", what)
