"""Options of an `openapi` connector stanza."""

from __future__ import annotations

from pydantic import Field

from connectors.options import HEADER_NAME, ConnectorOptions
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
