"""Options of an `openapi` connector stanza."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from connectors.auth import BackendAuthSettings, refuse_moved_keys, require_token_url, sent_in_clear
from connectors.options import ConnectorOptions
from connectors.tls import check_scheme


class OpenApiOptions(ConnectorOptions):
    """Any HTTP API described by an OpenAPI 3 document."""

    spec: str = Field(min_length=1, description="Path or http(s) URL of the OpenAPI document.")
    base_url: str | None = Field(None, pattern=r"^https?://", description="API base URL; default: the document's.")
    operations: tuple[str, ...] | None = Field(
        None, min_length=1, description="operationIds to offer as tools; default: all."
    )
    auth: BackendAuthSettings | None = Field(None, description="How the gateway signs in; none: anonymously.")

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        return refuse_moved_keys(
            data,
            {
                "bearer_token": "bearer",
                "api_key": "api_key",
                "api_key_header": "api_key",
                "username": "basic",
                "password": "basic",
            },
        )

    @model_validator(mode="after")
    def _checked(self) -> Self:
        require_token_url(self.auth)
        check_scheme(self.tls, self.spec, "spec")
        check_scheme(self.tls, self.base_url, "base_url")
        return self

    def cleartext_warning(self) -> str | None:
        # The document is fetched with the same credential as the calls.
        return sent_in_clear(self.auth, self.spec, "spec") or sent_in_clear(self.auth, self.base_url, "base_url")
