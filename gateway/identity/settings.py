"""Configuration of trusted token issuers (`identity.issuers`) and of the JWKS cache
(`identity.jwks`), validated as pydantic models so a bad key is named at start-up."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

#: Signature algorithms an issuer may be trusted with; `none` and HMAC are not among them
#: (HMAC needs a shared secret, which only the local issuer has).
AsymmetricAlgorithm = Literal["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class IssuerSettings(BaseModel):
    """One identity provider whose tokens the gateway accepts."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    issuer: str = Field(
        default="", min_length=1, description="Must equal the token's `iss` exactly; tokens are matched by it."
    )
    discovery: bool = Field(
        default=True,
        description="Find jwks_uri in the issuer's /.well-known/openid-configuration (or RFC 8414 metadata).",
    )
    jwks_uri: str | None = Field(default=None, description="The issuer's JWKS URL; overrides discovery when set.")
    audiences: tuple[str, ...] = Field(
        default=(),
        description="Accepted `aud` values; empty: the gateway's own resource (server.public_url and its /mcp).",
    )
    algorithms: tuple[AsymmetricAlgorithm, ...] = Field(
        default=("RS256", "PS256", "ES256", "EdDSA"), min_length=1, description="Signature algorithms accepted."
    )
    roles_claim: str = Field(
        default="roles", min_length=1, description="Dotted path to the roles: a list or a space-separated string."
    )
    tenant_claim: str = Field(default="tenant", min_length=1, description="Dotted path to the tenant claim.")
    required_scopes: tuple[str, ...] = Field(
        default=(), description="Scopes every token must carry (`scope` or `scp`); a lack is 403 insufficient_scope."
    )

    @model_validator(mode="after")
    def _has_key_source(self) -> IssuerSettings:
        if not self.discovery and not self.jwks_uri:
            raise ValueError("needs jwks_uri when discovery is false")
        for url in (self.issuer, self.jwks_uri):
            if url is not None and not url.startswith(("https://", "http://")):
                raise ValueError(f"{url!r} is not an http(s) URL")
        return self


class JwksSettings(BaseModel):
    """How long fetched keys are trusted and how often they may be fetched."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    min_cache_seconds: float = Field(
        default=300.0, ge=0, description="Lower bound on the IdP's Cache-Control max-age for its JWKS."
    )
    max_cache_seconds: float = Field(
        default=86_400.0, gt=0, description="Upper bound on the cache lifetime; also the lifetime without max-age."
    )
    default_cache_seconds: float = Field(
        default=3600.0, gt=0, description="Cache lifetime when the JWKS response has no Cache-Control max-age."
    )
    refetch_interval_seconds: float = Field(
        default=60.0, ge=0, description="Unknown `kid`: at most one refetch per issuer in this interval."
    )
    fetch_timeout_seconds: float = Field(default=5.0, gt=0, description="Timeout of one discovery or JWKS request.")
    retry_seconds: float = Field(default=30.0, gt=0, description="Wait before retrying a failed background refresh.")

    @model_validator(mode="after")
    def _bounds(self) -> JwksSettings:
        if self.min_cache_seconds > self.max_cache_seconds:
            raise ValueError("min_cache_seconds is above max_cache_seconds")
        return self


class ConsoleSignInSettings(BaseModel):
    """How approvers sign in to the web console: authorization code with PKCE at one of
    the trusted issuers, as a public client whose redirect URI is `<public_url>/console`."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    issuer: str = Field(default="", min_length=1, description="One of identity.issuers[].issuer.")
    client_id: str = Field(default="", min_length=1, description="The console's (public) client id at that IdP.")
    scopes: tuple[str, ...] = Field(
        default=("openid",), description="Scopes requested besides the issuer's required_scopes."
    )
