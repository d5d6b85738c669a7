"""Options of an `oracle` connector stanza."""

from __future__ import annotations

from typing import Any

from pydantic import Field, model_validator

from connectors.auth import BackendAuthSettings, refuse_moved_keys
from connectors.options import ConnectorOptions


class OracleOptions(ConnectorOptions):
    """Oracle REST Data Services."""

    url: str = Field(pattern=r"^https?://", description="ORDS schema URL, e.g. https://host/ords/hr.")
    auth: BackendAuthSettings = Field(
        description="How the gateway signs in: `oauth_client_credentials` (ORDS's own token endpoint is "
        "`<url>/oauth/token`), or `token_exchange` (the person the agent acts for)."
    )

    @model_validator(mode="before")
    @classmethod
    def _moved(cls, data: Any) -> Any:
        data = refuse_moved_keys(
            data, {"client_id": "oauth_client_credentials", "client_secret": "oauth_client_credentials"}
        )
        return _ords_token_url(data)


def _ords_token_url(data: Any) -> Any:
    """Client credentials default to ORDS's own token endpoint, `<url>/oauth/token`."""
    if not isinstance(data, dict):
        return data
    auth, url = data.get("auth"), data.get("url")
    if isinstance(auth, dict) and auth.get("kind") == "oauth_client_credentials" and isinstance(url, str):
        return {**data, "auth": {"token_url": f"{url.rstrip('/')}/oauth/token", **auth}}
    return data
