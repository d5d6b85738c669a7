"""Options of an `oracle` connector stanza."""

from __future__ import annotations

from typing import Any, Self

from pydantic import Field, model_validator

from connectors.auth import BackendAuthSettings, refuse_moved_keys, sent_in_clear
from connectors.options import ConnectorOptions
from connectors.tls import check_scheme


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

    @model_validator(mode="after")
    def _tls_needs_https(self) -> Self:
        check_scheme(self.tls, self.url, "url")
        return self

    def cleartext_warning(self) -> str | None:
        return sent_in_clear(self.auth, self.url, "url")


def _ords_token_url(data: Any) -> Any:
    """Client credentials default to ORDS's own token endpoint, `<url>/oauth/token`, reached
    with the stanza's `tls` as it is the backend itself."""
    if not isinstance(data, dict):
        return data
    auth, url = data.get("auth"), data.get("url")
    if isinstance(auth, dict) and auth.get("kind") == "oauth_client_credentials" and isinstance(url, str):
        if "token_url" in auth:
            return data
        own = {"token_url": f"{url.rstrip('/')}/oauth/token"} | ({"tls": data["tls"]} if "tls" in data else {})
        return {**data, "auth": {**own, **auth}}
    return data
