"""The `auth` section of a connector stanza: how the gateway signs in to the backend.

One model per kind, joined in `BackendAuthSettings` by the `kind` key:

    basic                     a technical user and password (HTTP basic)
    bearer                    a fixed token (Authorization: Bearer)
    api_key                   a fixed key in a header of the API's choosing
    oauth_client_credentials  the gateway's own OAuth client identity (RFC 6749 4.4)
    token_exchange            the caller's token exchanged at the IdP for one whose audience
                              is the backend (RFC 8693): the backend sees the person

    mtls                      the gateway's TLS client certificate (the `tls` section's
                              client_cert and client_key); no header credential

The agent's own token is never sent to a backend.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from connectors.options import HEADER_NAME
from connectors.tls import TlsOptions, cleartext_over_http
from gateway.config import Secret
from gateway.config.problems import KeyProblem, MovedKey

_URL = r"^https?://"
_SCOPE = r"^[\x21\x23-\x5b\x5d-\x7e]+$"


class _Auth(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: What of this kind travels with each request, for the warning when that is in clear.
    sent: ClassVar[str | None]


class BasicAuth(_Auth):
    """A technical user: every call reaches the backend as this user."""

    sent = "the technical user and password"
    kind: Literal["basic"] = Field(description="HTTP basic authentication.")
    username: str = Field(min_length=1, description="The technical user.")
    password: Secret = Field(description="The technical user's password.")


class BearerAuth(_Auth):
    """A fixed token issued to the gateway, sent as `Authorization: Bearer ...`."""

    sent = "the gateway's bearer tokens"
    kind: Literal["bearer"] = Field(description="A fixed bearer token.")
    token: Secret = Field(description="The token.")


class ApiKeyAuth(_Auth):
    """A fixed API key in a header."""

    sent = "the gateway's API keys"
    kind: Literal["api_key"] = Field(description="A fixed API key in a header.")
    key: Secret = Field(description="The API key.")
    header: str = Field("X-API-Key", pattern=HEADER_NAME, description="Header carrying the key.")


class TokenEndpointSettings(_Auth):
    """Where and as whom the gateway asks the authorization server for tokens."""

    client_id: str = Field(min_length=1, description="The gateway's client id at that server.")
    client_secret: Secret = Field(description="The gateway's client secret (sent as HTTP basic, RFC 6749 2.3.1).")
    scopes: tuple[Annotated[str, Field(pattern=_SCOPE)], ...] = Field((), description="Scopes to ask for.")
    resource: str | None = Field(
        None, pattern=_URL, description="Resource indicator (RFC 8707) naming the backend, when the server wants one."
    )
    refresh_before_seconds: float = Field(
        30.0, ge=0, le=3600, description="A cached token is renewed this long before it expires."
    )
    tls: TlsOptions | None = Field(
        None,
        description="TLS toward the token endpoint (it is not the backend: the backend's own `tls` does not "
        "apply); default: the system's trust store. Oracle's default endpoint, on the backend, takes the "
        "stanza's `tls`.",
    )


class ClientCredentialsAuth(TokenEndpointSettings):
    """The gateway's own identity: one token for every call, renewed before it expires."""

    sent = "the OAuth client secret and its tokens"
    kind: Literal["oauth_client_credentials"] = Field(description="OAuth2 client credentials grant.")
    token_url: str | None = Field(
        None,
        pattern=_URL,
        description="The authorization server's token endpoint; default: the backend's own where its kind has "
        "one (oracle: <url>/oauth/token), required otherwise.",
    )
    audience: str | None = Field(None, min_length=1, description="`audience` parameter, for servers that want one.")


class TokenExchangeAuth(TokenEndpointSettings):
    """The caller's token is exchanged (RFC 8693) for one whose audience is the backend; the
    backend sees the person the agent acts for and applies its own authorizations."""

    sent = "the tokens exchanged for each caller"
    kind: Literal["token_exchange"] = Field(description="OAuth 2.0 token exchange (RFC 8693).")
    token_url: str = Field(pattern=_URL, description="The identity provider's token endpoint.")
    audience: str = Field(min_length=1, description="The backend, as the identity provider names it.")
    cache_size: int = Field(
        1024, ge=1, le=1_000_000, description="Exchanged tokens kept (one per caller), least recently used dropped."
    )


class MtlsAuth(_Auth):
    """The gateway's TLS client certificate is its credential: the `tls` section's
    client_cert and client_key, required with this kind (connectors.options)."""

    sent = None  # a client certificate needs TLS: nothing goes in clear
    kind: Literal["mtls"] = Field(description="Mutual TLS: the client certificate in the tls section.")


BackendAuthSettings = Annotated[
    BasicAuth | BearerAuth | ApiKeyAuth | ClientCredentialsAuth | TokenExchangeAuth | MtlsAuth,
    Field(discriminator="kind"),
]


def require_token_url(auth: BackendAuthSettings | None) -> None:
    """A model_validator(mode="after") body for a kind without a token endpoint of its own."""
    if isinstance(auth, ClientCredentialsAuth) and auth.token_url is None:
        raise KeyProblem("auth.token_url", "required (this kind of backend has no default token endpoint)")


def refuse_moved_keys(data: Any, moved: dict[str, str]) -> Any:
    """A model_validator(mode="before") body: a stanza still using a key that moved into
    `auth` gets an error naming where it went (`moved` maps old key -> the kind it belongs to)."""
    if isinstance(data, dict):
        for key, kind in moved.items():
            if key in data:
                raise MovedKey(key, "auth", f"kind: {kind}")
    return data


def sent_in_clear(auth: BackendAuthSettings | None, url: str | None, key: str) -> str | None:
    """The warning when `auth`'s credentials go to an http:// `url` (the option `key`)."""
    if auth is None or auth.sent is None:
        return None
    return cleartext_over_http(url, key, auth.sent)
