"""Options of an `mcp` connector stanza: an upstream MCP server over Streamable HTTP
(`url`) or a subprocess over stdio (`command`), and how the gateway signs in to an HTTP
upstream that requires OAuth (`auth`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from connectors.options import ConnectorOptions
from connectors.tls import TlsOptions, check_scheme, cleartext_over_http
from gateway.config import KeyProblem, Secret

#: SDK client sessions a Streamable HTTP connector opens side by side. Tool calls go as plain
#: POSTs (connectors.mcp.direct_calls) and need no more than one.
DEFAULT_HTTP_SESSIONS = 1
#: A stdio server is a child process: check on it this often when it is idle.
DEFAULT_STDIO_PING_SECONDS = 2.0


#: Token endpoint client authentication methods the gateway can use (RFC 6749, RFC 7523).
TokenEndpointAuthMethod = Literal["client_secret_basic", "client_secret_post", "private_key_jwt"]
#: Signature algorithms of a private_key_jwt client assertion (RFC 7518 names).
AssertionAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class OAuthClientCredentials(BaseModel):
    """The gateway signs in to the upstream as an OAuth client of its own (client credentials
    grant, no person involved). The authorization server is discovered from the upstream's
    protected-resource metadata (RFC 9728) and its own metadata (RFC 8414)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: Literal["oauth_client_credentials"] = Field(description="The gateway's own OAuth client identity.")
    client_id: str = Field(min_length=1, description="The client id registered for the gateway at the upstream's AS.")
    client_secret: Secret | None = Field(
        None, description="The client's secret (client_secret_basic, client_secret_post)."
    )
    private_key: Secret | None = Field(
        None, description="PEM private key signing a client assertion (private_key_jwt) instead of a secret."
    )
    private_key_alg: AssertionAlgorithm = Field("RS256", description="Signature algorithm of the client assertion.")
    token_endpoint_auth_method: TokenEndpointAuthMethod | None = Field(
        None,
        description="How the client authenticates at the token endpoint; default: private_key_jwt with "
        "private_key, else client_secret_basic.",
    )
    scopes: tuple[str, ...] = Field(
        (),
        description="Scopes asked for at first; default: what the upstream's challenge or metadata names. "
        "More are asked for when the upstream answers 403 insufficient_scope.",
    )
    issuer: str | None = Field(
        None,
        pattern=r"^https?://",
        description="The authorization server these credentials belong to: they are sent to no other. "
        "Without it, to whichever server the upstream's metadata names.",
    )
    tls: TlsOptions | None = Field(
        None,
        description="TLS toward the authorization server (not the upstream: the connector's own `tls` does not "
        "apply); default: the system's trust store.",
    )
    token_url: str | None = Field(
        None, pattern=r"^https?://", description="Token endpoint; default: the one in the server's metadata."
    )
    refresh_before_seconds: float = Field(
        60.0, ge=0, le=3600, description="Get a new token this long before the current one expires."
    )

    @model_validator(mode="after")
    def _one_credential(self) -> OAuthClientCredentials:
        if (self.client_secret is None) == (self.private_key is None):
            raise KeyProblem("", "give exactly one of client_secret and private_key")
        method = self.method
        if self.private_key is not None and method != "private_key_jwt":
            raise KeyProblem("token_endpoint_auth_method", f"{method} needs client_secret, not private_key")
        if self.client_secret is not None and method == "private_key_jwt":
            raise KeyProblem("token_endpoint_auth_method", "private_key_jwt needs private_key, not client_secret")
        if any(not scope or " " in scope for scope in self.scopes):
            raise KeyProblem("scopes", "each scope is one non-empty word")
        return self

    @property
    def method(self) -> TokenEndpointAuthMethod:
        if self.token_endpoint_auth_method is not None:
            return self.token_endpoint_auth_method
        return "private_key_jwt" if self.private_key is not None else "client_secret_basic"


class McpOptions(ConnectorOptions):
    """An upstream MCP server: give exactly one of `url` and `command`."""

    url: str | None = Field(None, pattern=r"^https?://", description="The upstream's Streamable HTTP endpoint.")
    headers: Mapping[str, Secret] = Field(
        default_factory=dict, description="Headers sent to the upstream (values are secrets: use references)."
    )
    sessions: int = Field(
        DEFAULT_HTTP_SESSIONS,
        ge=1,
        le=64,
        description="SDK client sessions opened side by side; they carry the tool calls only when the "
        "environment routes the upstream through a proxy, or the upstream asks for input (2026-07-28).",
    )
    command: tuple[str, ...] | None = Field(
        None, min_length=1, description="Program and arguments of a stdio MCP server."
    )
    env: Mapping[str, Secret] = Field(
        default_factory=dict,
        description="Environment of the stdio server, where its API keys go (values are secrets: use references).",
    )
    cwd: str | None = Field(None, min_length=1, description="Working directory of the stdio server.")
    ping_interval_seconds: float | None = Field(
        None,
        gt=0,
        description=f"Ping an idle upstream this often; default: {DEFAULT_STDIO_PING_SECONDS} over stdio, "
        "never over HTTP.",
    )
    # Over stdio the handshake era is the default: there `notifications/tools/list_changed`
    # arrives unasked, while 2026-07-28 needs a subscription many servers do not offer.
    protocol: Literal["auto", "legacy", "2026-07-28"] | None = Field(
        None, description="MCP protocol era; default: legacy over stdio, auto over HTTP."
    )
    auth: OAuthClientCredentials | None = Field(
        None, description="How the gateway signs in to an HTTP upstream that requires OAuth."
    )

    @model_validator(mode="after")
    def _one_transport(self) -> McpOptions:
        if (self.url is None) == (self.command is None):
            raise KeyProblem("", "give exactly one of url (Streamable HTTP) and command (stdio)")
        if self.command is not None and not all(self.command):
            raise KeyProblem("command", "expected a non-empty list of strings (program and arguments)")
        if self.command is not None and self.tls is not None:
            raise KeyProblem("tls", "applies to an upstream reached by url, not to a stdio command")
        check_scheme(self.tls, self.url, "url")
        if self.auth is not None and self.url is None:
            raise KeyProblem("auth", "only an upstream reached by url signs in; a stdio server has no HTTP")
        given = [name for name in self.headers if name.lower() == "authorization"]
        if self.auth is not None and given:
            raise KeyProblem(f"headers.{given[0]}", "set by auth: give one or the other")
        return self

    def cleartext_warning(self) -> str | None:
        sent = [
            what for what, given in (("the configured headers", self.headers), ("the OAuth tokens", self.auth)) if given
        ]
        return cleartext_over_http(self.url, "url", " and ".join(sent)) if sent else None
