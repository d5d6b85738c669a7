"""The `catalog` section of the configuration."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from gateway.config.secrets import Locator

#: Connector kinds whose tool definitions come from a server the gateway does not control.
PINNED_KINDS = ("mcp", "openapi")


class CatalogSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    pinning: bool = Field(
        default=True,
        description="Pin the tool definitions of mcp and openapi connectors by digest; quarantine new or changed ones.",
    )
    trust_on_first_use: bool = Field(
        default=False,
        description="Approve a tool's first definition without review (development and the demo); changes still wait.",
    )
    database: Locator | None = Field(
        default=None,
        description="SQLite file or postgresql:// URL holding the pins (default: the audit database); "
        "replicas share pins through one PostgreSQL database.",
    )
    reviewer_roles: tuple[str, ...] = Field(
        default=("tool-reviewer",), description="Token roles that may list, diff and approve tool definitions."
    )
