"""The `brakes:` section of the configuration: automatic suspension of an agent that
crosses a threshold in a sliding window."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class BrakeSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(
        default="brake", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="Names the brake in metrics and audit."
    )
    count: Literal["denied", "errors", "writes", "amount"] = Field(
        default="denied",
        description="What is counted per agent: calls the policy denied, calls that failed at the backend, "
        "successful writes (tools not marked read-only), or the amount moved by successful writes.",
    )
    threshold: float = Field(default=10, gt=0, description="The agent is suspended when the count reaches this.")
    window_seconds: float = Field(default=60, gt=0, le=86_400, description="The sliding window counted over.")
    tools: str = Field(default="*", min_length=1, description="Glob over connector.tool: which calls count.")
    agents: str = Field(default="*", min_length=1, description="Glob over the agent's subject: who is watched.")
    amount_argument: str = Field(
        default="amount", min_length=1, description="For count: amount, the argument holding the amount moved."
    )
    reviewer_roles: tuple[str, ...] = Field(
        default=("approver",), description="Roles that may resume an agent this brake suspended (besides admins)."
    )
