"""The gateway's configuration: one YAML file plus `GATEWAY_*` environment overrides,
validated at start-up with an error that names the bad key and value."""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import jsonschema
import pydantic
import yaml

from gateway.arguments import ArgumentLimits
from gateway.brake_settings import BrakeSettings
from gateway.guards.settings import GuardSettings

_CONNECTOR_NAME = r"^[A-Za-z][A-Za-z0-9_-]{0,63}$"

SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "arguments": {"type": "object"},  # checked by its pydantic model
        "server": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "host": {"type": "string", "minLength": 1},
                "port": {"type": "integer", "minimum": 0, "maximum": 65535},
                "max_body_bytes": {"type": "integer", "minimum": 1024},
                "allowed_hosts": {"type": "array", "items": {"type": "string"}},
                "allowed_origins": {"type": "array", "items": {"type": "string"}},
            },
        },
        "identity": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "algorithms": {
                    "type": "array",
                    "minItems": 1,
                    "items": {"enum": ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384"]},
                },
                "secret": {"type": "string", "minLength": 32},
                "public_key_file": {"type": "string", "minLength": 1},
                "issuer": {"type": "string", "minLength": 1},
                "audience": {"type": "string", "minLength": 1},
                "leeway_seconds": {"type": "number", "minimum": 0, "maximum": 300},
                "roles_claim": {"type": "string", "minLength": 1},
                "tenant_claim": {"type": "string", "minLength": 1},
            },
        },
        "guards": {"type": "object"},
        "policy": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "directory": {"type": "string", "minLength": 1},
                "watch": {"type": "boolean"},
                "admin_role": {"type": "string", "minLength": 1},
            },
        },
        "audit": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "database": {"type": "string", "minLength": 1},
                "origin": {"type": "string", "minLength": 1, "pattern": r"^[^\n]+$"},
                "signing_key_file": {"type": "string", "minLength": 1},
                "checkpoint_every_records": {"type": "integer", "minimum": 1},
                "checkpoint_every_seconds": {"type": "number", "exclusiveMinimum": 0},
                "redact_keys": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "redact_patterns": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "redact_card_numbers": {"type": "boolean"},
                "busy_timeout_seconds": {"type": "number", "minimum": 0},
                "auditor_role": {"type": "string", "minLength": 1},
            },
        },
        "tracing": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "otlp_endpoint": {"type": "string", "pattern": r"^https?://[^\s/]+"},
                "service_name": {"type": "string", "minLength": 1},
                "sample_ratio": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "frontdoors": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "unprefixed_connector": {"type": "string", "pattern": _CONNECTOR_NAME},
                "page_size": {"type": "integer", "minimum": 1, "maximum": 10_000},
            },
        },
        "approvals": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "database": {"type": "string", "minLength": 1},
                "default_ttl_seconds": {"type": "number", "exclusiveMinimum": 0},
                "max_hold_seconds": {"type": "number", "minimum": 0},
                "retain_outcome_seconds": {"type": "number", "minimum": 0},
                "approver_roles": {"type": "array", "minItems": 1, "items": {"type": "string", "minLength": 1}},
                "console_url": {"type": "string", "pattern": "^https?://"},
                "webhooks": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["url"],
                        "properties": {
                            "url": {"type": "string", "pattern": "^https?://"},
                            "events": {
                                "type": "array",
                                "minItems": 1,
                                "items": {"enum": ["requested", "voted", "decided", "expired"]},
                            },
                            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
                            "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
                        },
                    },
                },
                "webhook_attempts": {"type": "integer", "minimum": 1, "maximum": 20},
                "webhook_backoff_seconds": {"type": "number", "exclusiveMinimum": 0},
                "webhook_queue_size": {"type": "integer", "minimum": 1},
            },
        },
        "limits": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "redis_url": {"type": "string", "pattern": "^rediss?://"},
                "rules": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["per", "rate_per_second"],
                        "properties": {
                            "per": {"enum": ["agent", "tool", "agent_tool"]},
                            "tools": {"type": "string", "minLength": 1},
                            "agents": {"type": "string", "minLength": 1},
                            "rate_per_second": {"type": "number", "exclusiveMinimum": 0},
                            "burst": {"type": "integer", "minimum": 1},
                        },
                    },
                },
            },
        },
        "brakes": {"type": "array", "items": {"type": "object"}},
        "connectors": {
            "type": "object",
            "propertyNames": {"pattern": _CONNECTOR_NAME},
            "additionalProperties": {
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"type": "string", "pattern": r"^[a-z][a-z0-9_]*$"},
                    "timeout_seconds": {"type": "number", "exclusiveMinimum": 0},
                },
            },
        },
    },
}


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8080
    max_body_bytes: int = 1_048_576
    allowed_hosts: tuple[str, ...] = ()
    allowed_origins: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class IdentitySettings:
    algorithms: tuple[str, ...] = ("HS256",)
    secret: str | None = None
    public_key_file: str | None = None
    issuer: str = "agent-gateway"
    audience: str = "agent-gateway"
    leeway_seconds: float = 30.0
    roles_claim: str = "roles"
    tenant_claim: str = "tenant"


@dataclass(frozen=True, slots=True)
class PolicySettings:
    directory: str = "policies"
    watch: bool = True
    #: Role a token needs to call the admin endpoints (policy reload).
    admin_role: str = "gateway-admin"


@dataclass(frozen=True, slots=True)
class AuditSettings:
    database: str = "var/gateway.db"
    #: Names the log in its signed checkpoints (one line of text).
    origin: str = "agent-gateway"
    #: Ed25519 private key (PEM) that signs checkpoints; none: no checkpoints are written.
    signing_key_file: str | None = None
    checkpoint_every_records: int = 1000
    checkpoint_every_seconds: float = 10.0
    #: Argument keys whose values are never stored (any depth; case, `-` and `_` ignored).
    redact_keys: tuple[str, ...] = (
        "password",
        "passwd",
        "secret",
        "token",
        "access_token",
        "refresh_token",
        "api_key",
        "authorization",
        "private_key",
        "ssn",
        "card_number",
        "cvv",
    )
    #: Regular expressions whose matches inside string values are replaced (default: US SSNs).
    redact_patterns: tuple[str, ...] = (r"\b\d{3}-\d{2}-\d{4}\b",)
    #: Replace 13-19 digit runs that pass the Luhn check (payment card numbers).
    redact_card_numbers: bool = True
    #: How long an append waits for a lock held by another process before failing.
    busy_timeout_seconds: float = 5.0
    #: Role a token needs to query the log over REST (/v1/audit/...).
    auditor_role: str = "auditor"


@dataclass(frozen=True, slots=True)
class FrontDoorSettings:
    #: This connector's tools and prompts are shown to MCP agents without the `connector.`
    #: prefix (a gateway fronting one MCP server looks exactly like it); policy still sees
    #: `connector.name`.
    unprefixed_connector: str | None = None
    #: Items per page of MCP list results (tools, prompts, resources).
    page_size: int = 100


@dataclass(frozen=True, slots=True)
class RateLimitRule:
    #: One bucket per agent (JWT subject), per tool, or per agent and tool.
    per: str
    rate_per_second: float
    #: Calls allowed at once after a quiet spell (the bucket's size); default: one second's worth.
    burst: int
    #: Glob over `connector.tool` and over the agent's subject: which calls the rule counts.
    tools: str = "*"
    agents: str = "*"


@dataclass(frozen=True, slots=True)
class RateLimitSettings:
    rules: tuple[RateLimitRule, ...] = ()
    #: Shared buckets for every replica; none: each process counts on its own.
    redis_url: str | None = None


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    url: str
    #: Which approval events this target receives.
    events: tuple[str, ...] = ("requested", "decided", "expired")
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_seconds: float = 5.0


@dataclass(frozen=True, slots=True)
class ApprovalSettings:
    #: SQLite file or postgresql:// URL of the approvals tables; defaults to the audit database.
    database: str = "var/gateway.db"
    #: Seconds until an undecided approval expires when its rule names no TTL.
    default_ttl_seconds: float = 3600.0
    #: Upper bound on how long one agent request stays open waiting for a decision.
    max_hold_seconds: float = 300.0
    #: How long a decided approval answers retries of the same call (the replay window).
    retain_outcome_seconds: float = 86_400.0
    #: Roles that may use the approvals API; a rule's approver_role narrows who may vote.
    approver_roles: tuple[str, ...] = ("approver",)
    #: Public base URL of the gateway, used for console links in notifications.
    console_url: str | None = None
    webhooks: tuple[WebhookSettings, ...] = ()
    webhook_attempts: int = 5
    webhook_backoff_seconds: float = 0.5
    webhook_queue_size: int = 1000


@dataclass(frozen=True, slots=True)
class TracingSettings:
    #: OTLP/HTTP collector base URL (spans go to <endpoint>/v1/traces); None keeps tracing off.
    otlp_endpoint: str | None = None
    service_name: str = "agent-gateway"
    sample_ratio: float = 1.0


@dataclass(frozen=True, slots=True)
class ConnectorSettings:
    name: str
    kind: str
    timeout_seconds: float
    options: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    server: ServerSettings = field(default_factory=ServerSettings)
    identity: IdentitySettings = field(default_factory=IdentitySettings)
    policy: PolicySettings = field(default_factory=PolicySettings)
    audit: AuditSettings = field(default_factory=AuditSettings)
    frontdoors: FrontDoorSettings = field(default_factory=FrontDoorSettings)
    approvals: ApprovalSettings = field(default_factory=ApprovalSettings)
    limits: RateLimitSettings = field(default_factory=RateLimitSettings)
    tracing: TracingSettings = field(default_factory=TracingSettings)
    guards: GuardSettings = field(default_factory=GuardSettings)
    connectors: tuple[ConnectorSettings, ...] = ()
    arguments: ArgumentLimits = field(default_factory=ArgumentLimits)
    brakes: tuple[BrakeSettings, ...] = ()
    #: Directory relative paths in the file are resolved against.
    base_dir: Path = field(default_factory=Path.cwd)

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p


class ConfigError(Exception):
    """The configuration is invalid; the message names the key and the value."""


_ENV_PREFIX = "GATEWAY_"
#: Environment overrides: GATEWAY_<SECTION>__<KEY>=value (e.g. GATEWAY_SERVER__PORT=9000).
_ENV_KEY = re.compile(r"^GATEWAY_([A-Z]+)__([A-Z_]+)$")


def _key_path(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path) or "(top level)"


_SECRET_KEY = re.compile(r"secret|password|passwd|token|api_key|private_key", re.IGNORECASE)


def _describe(error: jsonschema.ValidationError) -> str:
    if error.validator == "additionalProperties":
        return f"{_key_path(error)}: {error.message}"
    if error.validator == "required":
        return f"{_key_path(error)}: {error.message}"
    return invalid_value(_key_path(error), error)


def invalid_value(where: str, error: jsonschema.ValidationError) -> str:
    """`where: invalid value ...: why`, never quoting the value of a secret-like key."""
    if error.path and _SECRET_KEY.search(str(error.path[-1])):
        # jsonschema's message quotes the value too: a secret stays out of terminals and logs.
        return f"{where}: invalid value (not shown: a secret): fails {error.validator} {error.validator_value!r}"
    return f"{where}: invalid value {error.instance!r}: {error.message}"


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for name, value in environ.items():
        match = _ENV_KEY.match(name)
        if not match:
            continue
        section, key = match.group(1).lower(), match.group(2).lower()
        raw.setdefault(section, {})
        if not isinstance(raw[section], dict):
            raise ConfigError(f"{name}: section {section!r} is not a mapping in the file")
        # YAML scalars: "9000" becomes 9000, "true" becomes True, text stays text.
        raw[section][key] = yaml.safe_load(value) if value else value


def _tuples(section: Mapping[str, Any]) -> dict[str, Any]:
    """Lists become tuples so the settings stay immutable."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in section.items()}


def _approval_settings(raw: Mapping[str, Any], audit: AuditSettings) -> ApprovalSettings:
    values = _tuples(raw)
    # One database file by default: approvals sit beside the audit log they are recorded in.
    values.setdefault("database", audit.database)
    values["webhooks"] = tuple(WebhookSettings(**_tuples(hook)) for hook in raw.get("webhooks", ()))
    return ApprovalSettings(**values)


def parse_config(raw: Any, *, base_dir: Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"(top level): expected a mapping of sections, got {type(raw).__name__}")
    _apply_env(raw, os.environ if environ is None else environ)
    errors = sorted(jsonschema.Draft202012Validator(SCHEMA).iter_errors(raw), key=lambda e: list(e.path))
    if errors:
        raise ConfigError("; ".join(_describe(e) for e in errors))

    identity = IdentitySettings(**_tuples(raw.get("identity", {})))
    if any(a.startswith("HS") for a in identity.algorithms) and not identity.secret:
        raise ConfigError("identity.secret: required for HS* algorithms (at least 32 characters)")
    if any(not a.startswith("HS") for a in identity.algorithms) and not identity.public_key_file:
        raise ConfigError("identity.public_key_file: required for RS*/ES* algorithms")

    connectors = tuple(
        ConnectorSettings(
            name=name,
            kind=stanza["kind"],
            timeout_seconds=float(stanza.get("timeout_seconds", 30.0)),
            options={k: v for k, v in stanza.items() if k not in ("kind", "timeout_seconds")},
        )
        for name, stanza in raw.get("connectors", {}).items()
    )
    audit = _audit_settings(raw.get("audit", {}))
    frontdoors = FrontDoorSettings(**raw.get("frontdoors", {}))
    if frontdoors.unprefixed_connector not in (None, *(c.name for c in connectors)):
        raise ConfigError(f"frontdoors.unprefixed_connector: no connector named {frontdoors.unprefixed_connector!r}")
    return GatewayConfig(
        server=ServerSettings(**_tuples(raw.get("server", {}))),
        identity=identity,
        policy=PolicySettings(**raw.get("policy", {})),
        audit=audit,
        approvals=_approval_settings(raw.get("approvals", {}), audit),
        frontdoors=frontdoors,
        limits=_rate_limit_settings(raw.get("limits", {})),
        tracing=TracingSettings(**raw.get("tracing", {})),
        guards=_model(GuardSettings, "guards", raw.get("guards", {})),
        connectors=connectors,
        arguments=_model(ArgumentLimits, "arguments", raw.get("arguments", {})),
        brakes=_brakes(raw.get("brakes", [])),
        base_dir=base_dir,
    )


M = TypeVar("M", bound=pydantic.BaseModel)


def _model(model: type[M], section: str, raw: Any) -> M:
    try:
        return model.model_validate(raw)
    except pydantic.ValidationError as exc:
        problems = (f"{'.'.join(map(str, (section, *e['loc'])))}: {e['msg']}" for e in exc.errors())
        raise ConfigError("; ".join(problems)) from None


def _brakes(raw: list[Any]) -> tuple[BrakeSettings, ...]:
    brakes = []
    for i, item in enumerate(raw):
        try:
            brakes.append(BrakeSettings.model_validate(item))
        except pydantic.ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(f"brakes.{i}.{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    names = [b.name for b in brakes]
    if len(set(names)) != len(names):
        raise ConfigError(f"brakes: each brake needs its own name, got {names}")
    return tuple(brakes)


def _audit_settings(audit: dict[str, Any]) -> AuditSettings:
    for i, pattern in enumerate(audit.get("redact_patterns", ())):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(f"audit.redact_patterns.{i}: invalid regular expression {pattern!r}: {exc}") from None
    return AuditSettings(**_tuples(audit))


def load_config(path: str | Path, environ: Mapping[str, str] | None = None) -> GatewayConfig:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"config file {path} is not valid UTF-8") from None
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"config file {path} is not valid YAML{where}") from None
    return parse_config(raw, base_dir=path.resolve().parent, environ=environ)


def _rate_limit_settings(section: dict[str, Any]) -> RateLimitSettings:
    rules = tuple(
        RateLimitRule(**{"burst": max(1, math.ceil(rule["rate_per_second"])), **rule})
        for rule in section.get("rules", ())
    )
    return RateLimitSettings(rules=rules, redis_url=section.get("redis_url"))
