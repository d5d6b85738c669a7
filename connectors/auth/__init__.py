"""How a connector signs in to its backend: the `auth` section of a stanza (settings.py)
and one module per kind's behaviour, all handing out a `Credential` per call through the
`BackendAuth` interface (credential.py). HTTP connectors apply it in
connectors.http_backend; a connector speaking another protocol reads the credential's
parts (user and password, or token)."""

from __future__ import annotations

from connectors.auth.client_credentials import ClientCredentials
from connectors.auth.credential import BackendAuth, Credential, caller_key
from connectors.auth.settings import (
    ApiKeyAuth,
    BackendAuthSettings,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    TokenExchangeAuth,
    refuse_moved_keys,
    require_token_url,
)
from connectors.auth.static import StaticAuth
from connectors.auth.token_exchange import TokenExchange

__all__ = [
    "ApiKeyAuth",
    "BackendAuth",
    "BackendAuthSettings",
    "BasicAuth",
    "BearerAuth",
    "ClientCredentialsAuth",
    "Credential",
    "TokenExchangeAuth",
    "backend_auth",
    "caller_key",
    "refuse_moved_keys",
    "require_token_url",
]


def backend_auth(settings: BackendAuthSettings, connector: str, timeout: float) -> BackendAuth:
    """The behaviour of a connector's `auth` section (`timeout`: for the token endpoint)."""
    if isinstance(settings, ClientCredentialsAuth):
        return ClientCredentials(settings, connector, timeout)
    if isinstance(settings, TokenExchangeAuth):
        return TokenExchange(settings, connector, timeout)
    return StaticAuth(settings)
