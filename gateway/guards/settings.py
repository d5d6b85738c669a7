"""The `guards` config section: how much one source, one principal and the whole gateway
may hold at once, and how long a slow client may take."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class AuthFailureSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    window_seconds: float = Field(
        60.0, gt=0, le=3600, description="Failures per source and reason are summed into one audit record per window."
    )
    per_source_rate: float = Field(
        5.0, gt=0, description="Refused tokens a source may present per second before it is answered 429."
    )
    per_source_burst: int = Field(20, ge=1, description="Refused tokens a source may present at once.")
    max_keys: int = Field(
        1000,
        ge=1,
        description="(source, reason, path) keys tracked per window; beyond it failures are summed under source '*'.",
    )


class SessionSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    per_principal: int = Field(64, ge=1, description="Open MCP sessions one principal may hold.")
    total: int = Field(4096, ge=1, description="Open MCP sessions the gateway holds in all.")
    idle_seconds: float = Field(900.0, gt=0, description="A session unused this long is closed.")
    in_flight_per_principal: int = Field(
        64, ge=1, description="Requests (calls, open SSE streams) one principal may have in flight on /mcp."
    )
    in_flight_total: int = Field(
        1024, ge=1, description="Requests the gateway serves at once on /mcp; past it new ones get 503."
    )


class GuardSettings(BaseModel):
    """`guards:` in the config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    auth_failures: AuthFailureSettings = Field(
        AuthFailureSettings(), description="Refused tokens: aggregation and per-source limit."
    )
    sessions: SessionSettings = Field(SessionSettings(), description="MCP session limits.")
    audit_queue: int = Field(
        5000, ge=1, description="Audit records waiting to be written; past it new calls are answered 503."
    )
    retry_after_seconds: int = Field(1, ge=1, description="Retry-After sent with a 503 when load is shed.")
    header_timeout_seconds: float = Field(
        10.0, gt=0, description="A client must send a request's headers within this (slowloris guard)."
    )
    body_timeout_seconds: float = Field(
        30.0, gt=0, description="A client must send a request's whole body within this (slow bodies)."
    )
    max_header_bytes: int = Field(
        32_768,
        ge=1024,
        description="Largest request header block accepted (above the 16 KiB a bearer token may have, so an "
        "oversized token gets its precise 401).",
    )
