"""How a connector signs in to its backend: the `auth` section of a stanza (settings.py)
and one module per kind's behaviour, all handing out a `Credential` per call through the
`BackendAuth` interface (credential.py). HTTP connectors apply it in
connectors.http_backend; a connector speaking another protocol reads the credential's
parts (user and password, or token). `mtls` sends no credential of its own: the TLS layer
presents the `tls` section's client certificate (connectors.tls)."""

from __future__ import annotations

from connectors.auth.client_credentials import ClientCredentials
from connectors.auth.credential import BackendAuth, Credential, caller_key
from connectors.auth.mtls import ClientCertificate
from connectors.auth.settings import (
    ApiKeyAuth,
    BackendAuthSettings,
    BasicAuth,
    BearerAuth,
    ClientCredentialsAuth,
    MtlsAuth,
    TokenExchangeAuth,
    refuse_moved_keys,
    require_token_url,
    sent_in_clear,
)
from connectors.auth.static import StaticAuth
from connectors.auth.token_exchange import TokenExchange
from connectors.tls import TlsOptions
from gateway.config import ConfigError

__all__ = [
    "ApiKeyAuth",
    "BackendAuth",
    "BackendAuthSettings",
    "BasicAuth",
    "BearerAuth",
    "ClientCredentialsAuth",
    "Credential",
    "MtlsAuth",
    "TokenExchangeAuth",
    "backend_auth",
    "caller_key",
    "refuse_moved_keys",
    "require_token_url",
    "sent_in_clear",
]


def backend_auth(
    settings: BackendAuthSettings, connector: str, timeout: float, tls: TlsOptions | None = None
) -> BackendAuth:
    """The behaviour of a connector's `auth` section (`timeout`: for the token endpoint;
    `tls`: the stanza's, whose client certificate `mtls` names)."""
    if isinstance(settings, MtlsAuth):
        if tls is None or tls.client_cert is None:  # refused at load time; a stanza built by hand
            raise ConfigError([f"connectors.{connector}.auth: kind mtls needs tls.client_cert"])
        return ClientCertificate(tls.client_cert)
    if isinstance(settings, ClientCredentialsAuth):
        return ClientCredentials(settings, connector, timeout)
    if isinstance(settings, TokenExchangeAuth):
        return TokenExchange(settings, connector, timeout)
    return StaticAuth(settings)
