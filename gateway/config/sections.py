"""One model per section of the config file. Each key is declared once, here, with its
default and its description (which `gateway config schema` hands to editors)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from gateway.config.problems import NOT_SHOWN, KeyProblem
from gateway.config.secrets import Locator, Secret, SecretUrl
from gateway.identity.settings import ConsoleSignInSettings, IssuerSettings, JwksSettings

#: Connector names: also the prefix of their tools (`sap.create_purchase_order`).
CONNECTOR_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"
_HTTP_URL = r"^https?://"


class Section(BaseModel):
    """A config section: unknown keys are errors, and the settings never change once read."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    host: str = Field("127.0.0.1", min_length=1, description="Address the gateway listens on.")
    port: int = Field(8080, ge=0, le=65535, description="Port for agents (MCP and REST); 0 picks a free one.")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted, in bytes.")
    allowed_hosts: tuple[str, ...] = Field(
        (),
        description="Host header values /mcp accepts (DNS-rebinding protection, `host:*` allows any port); "
        "empty: loopback names when listening on loopback, else any.",
    )
    allowed_origins: tuple[str, ...] = Field(
        (), description="Origin header values /mcp accepts when allowed_hosts is in force."
    )
    metrics_port: int | None = Field(
        None,
        ge=0,
        le=65535,
        description="Serve /metrics on a listener of its own (metrics_host:metrics_port), never on the agents' port.",
    )
    metrics_host: str = Field("127.0.0.1", min_length=1, description="Address of the metrics listener.")
    metrics_token: Secret | None = Field(
        None,
        description="Bearer token a scraper must send for /metrics. Without metrics_port, /metrics is served on the "
        "agents' port only with this token.",
    )
    public_url: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+(/[^\s]*)?$",
        description="The gateway's public base URL: the OAuth resource its tokens are issued for (RFC 8707/9728).",
    )
    readiness_interval_seconds: float = Field(
        10.0, gt=0, le=3600, description="How often backends are probed for /readyz (answers come from the last probe)."
    )


Algorithm = Literal["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"]


class IdentitySettings(Section):
    algorithms: tuple[Algorithm, ...] = Field(("HS256",), min_length=1, description="JWT algorithms accepted.")
    secret: Secret | None = Field(None, description="HS* signing secret (at least 32 characters).")
    public_key_file: str | None = Field(None, min_length=1, description="PEM public key for RS*/ES* tokens.")
    issuer: str = Field("agent-gateway", min_length=1, description="Expected `iss` claim.")
    audience: str = Field("agent-gateway", min_length=1, description="Expected `aud` claim.")
    leeway_seconds: float = Field(30.0, ge=0, le=300, description="Clock skew tolerated on exp/nbf/iat.")
    roles_claim: str = Field("roles", min_length=1, description="Claim holding the caller's roles.")
    tenant_claim: str = Field("tenant", min_length=1, description="Claim holding the caller's tenant.")
    issuers: tuple[IssuerSettings, ...] = Field(
        (), description="Identity providers whose tokens are accepted, matched by `iss` (see docs/identity.md)."
    )
    jwks: JwksSettings = Field(default_factory=JwksSettings, description="How long fetched signing keys are trusted.")
    console: ConsoleSignInSettings | None = Field(
        None, description="How people sign in to the console with one of the issuers (authorization code + PKCE)."
    )

    @field_validator("secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None and len(secret.get_secret_value()) < 32:
            raise KeyProblem("", f"{NOT_SHOWN}: must be at least 32 characters")
        return secret

    @model_validator(mode="after")
    def _keys_for_algorithms(self) -> IdentitySettings:
        if self.console and self.console.issuer not in {i.issuer for i in self.issuers}:
            raise KeyProblem("console.issuer", f"{self.console.issuer!r} is not one of identity.issuers")
        if self.issuers and not (self.secret or self.public_key_file):
            return self  # no local issuer: only the identity providers' tokens are accepted
        if any(a.startswith("HS") for a in self.algorithms) and self.secret is None:
            raise KeyProblem("secret", "required for HS* algorithms (at least 32 characters)")
        if any(not a.startswith("HS") for a in self.algorithms) and not self.public_key_file:
            raise KeyProblem("public_key_file", "required for RS*/ES* algorithms")
        return self


class PolicySettings(Section):
    directory: str = Field("policies", min_length=1, description="Directory of the Casbin model and policy files.")
    watch: bool = Field(True, description="Reload the policy when its files change.")
    admin_role: str = Field("gateway-admin", min_length=1, description="Role needed for the admin endpoints.")


_DEFAULT_REDACT_KEYS = (
    "password", "passwd", "secret", "token", "access_token", "refresh_token", "api_key",
    "authorization", "private_key", "ssn", "card_number", "cvv",
)  # fmt: skip


class AuditSettings(Section):
    database: Locator = Field(
        "var/gateway.db",
        min_length=1,
        description="SQLite file or postgresql:// URL (a ${env:…} reference when it holds a password).",
    )
    origin: str = Field(
        "agent-gateway", min_length=1, pattern=r"^[^\n]+$", description="Names the log in its signed checkpoints."
    )
    signing_key_file: str | None = Field(
        None, min_length=1, description="Ed25519 private key (PEM) that signs checkpoints; none: no checkpoints."
    )
    checkpoint_every_records: int = Field(1000, ge=1, description="Sign a checkpoint after this many records.")
    checkpoint_every_seconds: float = Field(10.0, gt=0, description="... or after this many seconds.")
    redact_keys: tuple[str, ...] = Field(
        _DEFAULT_REDACT_KEYS,
        description="Argument keys whose values are never stored (any depth; case, '-' and '_' ignored).",
    )
    redact_patterns: tuple[str, ...] = Field(
        (r"\b\d{3}-\d{2}-\d{4}\b",),
        description="Regular expressions whose matches inside string values are replaced (default: US SSNs).",
    )
    redact_card_numbers: bool = Field(True, description="Replace 13-19 digit runs that pass the Luhn check.")
    busy_timeout_seconds: float = Field(
        5.0, ge=0, description="How long an append waits for a lock held by another process before failing."
    )
    auditor_role: str = Field("auditor", min_length=1, description="Role needed to query the log over REST.")

    @field_validator("redact_keys", "redact_patterns")
    @classmethod
    def _not_empty(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for i, value in enumerate(values):
            if not value:
                raise KeyProblem(str(i), "expected a non-empty string")
        return values

    @field_validator("redact_patterns")
    @classmethod
    def _compiles(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for i, pattern in enumerate(patterns):
            try:
                re.compile(pattern)
            except re.error as exc:
                raise KeyProblem(str(i), f"invalid regular expression {pattern!r}: {exc}") from None
        return patterns


class FrontDoorSettings(Section):
    unprefixed_connector: str | None = Field(
        None,
        pattern=CONNECTOR_NAME,
        description="This connector's tools and prompts are shown to MCP agents without the `connector.` prefix; "
        "policy still sees `connector.name`.",
    )
    page_size: int = Field(100, ge=1, le=10_000, description="Items per page of MCP list results.")


class RateLimitRule(Section):
    per: Literal["agent", "tool", "agent_tool"] = Field(
        description="One bucket per agent (JWT subject), per tool, or per agent and tool."
    )
    rate_per_second: float = Field(gt=0, description="Calls per second refilled into the bucket.")
    burst: int = Field(1, ge=1, description="Calls allowed at once after a quiet spell; default: one second's worth.")
    tools: str = Field("*", min_length=1, description="Glob over `connector.tool`: which calls the rule counts.")
    agents: str = Field("*", min_length=1, description="Glob over the agent's subject.")

    @model_validator(mode="before")
    @classmethod
    def _one_second_of_burst(cls, data: Any) -> Any:
        if not isinstance(data, Mapping) or "burst" in data:
            return data
        rate = data.get("rate_per_second")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or rate <= 0:
            return data
        return {**data, "burst": max(1, math.ceil(rate))}


class RateLimitSettings(Section):
    rules: tuple[RateLimitRule, ...] = Field((), description="Rate limits; a call must pass every rule that counts it.")
    redis_url: Locator | None = Field(
        None, description="redis:// URL of buckets shared by every replica; none: each process counts on its own."
    )

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, url: str | None) -> str | None:
        if url is not None and not url.startswith(("redis://", "rediss://")):
            raise KeyProblem("", "expected a redis:// or rediss:// URL")
        return url


ApprovalEvent = Literal["requested", "voted", "decided", "expired"]


class WebhookSettings(Section):
    url: SecretUrl = Field(
        description="Where approval events are POSTed; a secret, as a webhook URL usually carries its token "
        "(Slack's incoming webhooks do)."
    )
    events: tuple[ApprovalEvent, ...] = Field(
        ("requested", "decided", "expired"), min_length=1, description="Which approval events this target receives."
    )
    headers: Mapping[str, Secret] = Field(
        default_factory=dict, description="Headers sent with each event (values are secrets: use references)."
    )
    timeout_seconds: float = Field(5.0, gt=0, description="Deadline of one delivery attempt.")


class ApprovalSettings(Section):
    database: Locator = Field(
        "var/gateway.db", min_length=1, description="SQLite file or postgresql:// URL; defaults to audit.database."
    )
    default_ttl_seconds: float = Field(
        3600.0, gt=0, description="Seconds until an undecided approval expires when its rule names no TTL."
    )
    max_hold_seconds: float = Field(
        300.0, ge=0, description="Upper bound on how long one agent request stays open waiting for a decision."
    )
    retain_outcome_seconds: float = Field(
        86_400.0, ge=0, description="How long a decided approval answers retries of the same call."
    )
    approver_roles: tuple[str, ...] = Field(
        ("approver",), min_length=1, description="Roles that may use the approvals API."
    )
    auditor_roles: tuple[str, ...] = Field(
        (),
        description="Roles that may read the approvals of their tenant (of every tenant with an `any-tenant:ROLE` "
        "grant in the policy) without voting.",
    )
    execution_window_seconds: float = Field(
        300.0,
        gt=0,
        description="An approved call must execute within this many seconds of the decision (shortened to the "
        "rule's TTL when that is shorter); later, the approval is superseded.",
    )
    max_pending_per_principal: int = Field(
        20, ge=1, description="Pending approvals one requester (issuer, tenant, subject) may have at once."
    )
    high_impact_amount: float | None = Field(
        None, gt=0, description="Approvals whose `amount` argument reaches this ask the approver to confirm."
    )
    high_impact_tools: tuple[str, ...] = Field(
        (), description="Tool globs (`mainframe.*`) whose approvals ask the approver to confirm."
    )
    console_url: str | None = Field(
        None, pattern=_HTTP_URL, description="Public base URL of the gateway, for console links in notifications."
    )
    webhooks: tuple[WebhookSettings, ...] = Field((), description="Targets notified of approval events.")
    webhook_attempts: int = Field(5, ge=1, le=20, description="Delivery attempts per event.")
    webhook_backoff_seconds: float = Field(0.5, gt=0, description="First retry delay (doubles each attempt).")
    webhook_queue_size: int = Field(1000, ge=1, description="Events queued for delivery before new ones are dropped.")


class TracingSettings(Section):
    otlp_endpoint: str | None = Field(
        None,
        pattern=r"^https?://[^\s/]+",
        description="OTLP/HTTP collector base URL (spans go to <endpoint>/v1/traces); none keeps tracing off.",
    )
    service_name: str = Field("agent-gateway", min_length=1, description="service.name of the spans.")
    sample_ratio: float = Field(1.0, ge=0, le=1, description="Share of traces recorded.")
