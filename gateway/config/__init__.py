"""The gateway's configuration: one YAML file plus `GATEWAY_*` environment overrides,
described once by typed models and validated at start-up with errors that name the key.

| module | holds |
| --- | --- |
| `sections` | one model per section (server, identity, policy, audit, ...) |
| `connectors` | connector stanzas; each kind declares its options in `connectors.<kind>` |
| `model` | `GatewayConfig`, the whole file |
| `secrets` | `${env:NAME}` / `${file:PATH}` references and the `Secret` type |
| `loading` | file + environment -> `GatewayConfig` |
| `problems` | `ConfigError` and how a problem is worded |
| `schema` | the JSON Schema of the file, for editors |
"""

from gateway.config.connectors import ConnectorSettings
from gateway.config.loading import load_config, parse_config
from gateway.config.model import GatewayConfig
from gateway.config.problems import ConfigError, KeyProblem
from gateway.config.secrets import Locator, Secret, SecretSources, reveal, revealed
from gateway.config.sections import (
    ApprovalSettings,
    AuditSettings,
    FrontDoorSettings,
    IdentitySettings,
    PolicySettings,
    RateLimitRule,
    RateLimitSettings,
    Section,
    ServerSettings,
    TracingSettings,
    WebhookSettings,
)

__all__ = [
    "ApprovalSettings",
    "AuditSettings",
    "ConfigError",
    "ConnectorSettings",
    "FrontDoorSettings",
    "GatewayConfig",
    "IdentitySettings",
    "KeyProblem",
    "Locator",
    "PolicySettings",
    "RateLimitRule",
    "RateLimitSettings",
    "Secret",
    "SecretSources",
    "Section",
    "ServerSettings",
    "TracingSettings",
    "WebhookSettings",
    "load_config",
    "parse_config",
    "reveal",
    "revealed",
]
