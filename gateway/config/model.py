"""The whole config file: one field per section. Adding a section is one line here (and
its model, wherever the feature lives)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, model_validator

from gateway.arguments import ArgumentLimits
from gateway.brake_settings import BrakeSettings
from gateway.config.connectors import ConnectorSettings
from gateway.config.problems import KeyProblem
from gateway.config.sections import (
    ApprovalSettings,
    AuditSettings,
    FrontDoorSettings,
    IdentitySettings,
    PolicySettings,
    RateLimitSettings,
    ServerSettings,
    TracingSettings,
)
from gateway.guards.settings import GuardSettings
from gateway.integrations.settings import IntegrationSettings
from gateway.integrations.sink_settings import StreamingSettings
from gateway.pins.settings import CatalogSettings


class GatewayConfig(BaseModel):
    """Read by `load_config`/`parse_config`: the YAML file, then `GATEWAY_<SECTION>__<KEY>`
    environment variables over it (at any depth: `GATEWAY_CONNECTORS__SAP__URL`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow_inline_secrets: bool = Field(
        False, description="Accept secrets written into the file (demos only); otherwise use ${env:…}/${file:…}."
    )
    server: ServerSettings = Field(default_factory=ServerSettings, description="The listener for agents.")
    identity: IdentitySettings = Field(default_factory=IdentitySettings, description="Who may call: JWT checks.")
    policy: PolicySettings = Field(default_factory=PolicySettings, description="Casbin policy files.")
    audit: AuditSettings = Field(default_factory=AuditSettings, description="The hash-chained audit log.")
    frontdoors: FrontDoorSettings = Field(default_factory=FrontDoorSettings, description="How tools are shown.")
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings, description="Human approval of held calls.")
    limits: RateLimitSettings = Field(default_factory=RateLimitSettings, description="Rate limits per agent/tool.")
    tracing: TracingSettings = Field(default_factory=TracingSettings, description="OpenTelemetry traces.")
    connectors: tuple[ConnectorSettings, ...] = Field(
        (), description="Backends by name; each stanza's `kind` decides which options it takes."
    )
    arguments: ArgumentLimits = Field(default_factory=ArgumentLimits, description="Shape limits of call arguments.")
    brakes: tuple[BrakeSettings, ...] = Field((), description="Automatic suspension of agents crossing a threshold.")
    integrations: IntegrationSettings = Field(
        default_factory=IntegrationSettings, description="Approvals in Slack, Teams and e-mail."
    )
    audit_streaming: StreamingSettings = Field(
        default_factory=StreamingSettings, description="Live audit streams to SIEMs (syslog, Splunk HEC, OTLP)."
    )
    catalog: CatalogSettings = Field(default_factory=CatalogSettings, description="Tool-definition pinning and review.")
    guards: GuardSettings = Field(
        default_factory=GuardSettings,
        description="Bounds per principal and in total: sessions, requests in flight, slow clients, refused tokens.",
    )
    _base_dir: Path = PrivateAttr(default_factory=Path.cwd)

    @model_validator(mode="before")
    @classmethod
    def _identity_always_checked(cls, data: Any) -> Any:
        # Its defaults alone are not valid (HS256 needs a secret): a file without the
        # section must say so, not fail later at the first token.
        return {"identity": {}, **data} if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _brakes_named_once(self) -> GatewayConfig:
        names = [b.name for b in self.brakes]
        if len(set(names)) != len(names):
            raise KeyProblem("brakes", f"each brake needs its own name, got {names}")
        return self

    @model_validator(mode="after")
    def _issuers_know_their_audience(self) -> GatewayConfig:
        if self.identity.issuers and not (self.server.public_url or all(i.audiences for i in self.identity.issuers)):
            raise KeyProblem("identity.issuers", "each needs audiences when server.public_url is not set")
        return self

    @model_validator(mode="after")
    def _approvals_beside_audit(self) -> GatewayConfig:
        # One database by default: approvals sit beside the audit log they are recorded in.
        if "database" in self.approvals.model_fields_set:
            return self
        approvals = self.approvals.model_copy(update={"database": self.audit.database})
        return self.model_copy(update={"approvals": approvals})

    @property
    def base_dir(self) -> Path:
        """Directory relative paths in the file are resolved against (the file's own)."""
        return self._base_dir

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else self.base_dir / p
