"""The gateway's configuration: one YAML file plus `GATEWAY_*` environment overrides,
described once by typed models and validated at start-up with errors that name the key.

| module | holds |
| --- | --- |
| `sections` | one model per section (server, identity, policy, audit, ...) |
| `connectors` | connector stanzas; each kind declares its options in `connectors.<kind>` |
| `model` | `GatewayConfig`, the whole file |
| `secrets` | `${env:NAME}` / `${file:PATH}` references and the `Secret`, `SecretUrl` and `Locator` types |
| `loading` | file + environment -> `GatewayConfig` |
| `problems` | `ConfigError` and how a problem is worded |
| `schema` | the JSON Schema of the file, for editors |

A new section is a model (subclass `Section`: unknown keys refused, frozen; every field
with its default and a `Field(description=...)`), kept beside the feature it configures,
plus one line in `GatewayConfig` (`model.py`). A credential field is typed `Secret` (a
`SecretStr` filled from `${env:...}`/`${file:...}`; `SecretUrl` for a URL that is itself a
credential, `Locator` for a path or URL that may embed a password); no other way to read a
secret (no `*_env` keys); a cross-field rule is a
`model_validator` raising `KeyProblem(key, message)`, so the error names the key. A new
connector option is a field of its kind's `Options` (`connectors/<kind>/options.py`).
"""

from gateway.config.connectors import ConnectorSettings
from gateway.config.loading import load_config, parse_config
from gateway.config.model import GatewayConfig
from gateway.config.problems import ConfigError, KeyProblem
from gateway.config.secrets import Locator, Secret, SecretSources, SecretUrl, reveal, revealed, url_target
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
    "SecretUrl",
    "Section",
    "ServerSettings",
    "TracingSettings",
    "WebhookSettings",
    "load_config",
    "parse_config",
    "reveal",
    "revealed",
    "url_target",
]
