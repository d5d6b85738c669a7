"""The `integrations` section: where approval notifications go (Slack, Teams, e-mail) and
who a chat user is when they vote (the approver directory).

Secrets are given through the environment (`signing_secret_env: SLACK_SIGNING_SECRET`) or,
for tests and demos, inline; a named but unset variable is refused at start-up.
"""

from __future__ import annotations

import os
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

NotificationEvent = Literal["requested", "voted", "decided", "expired"]
_EVENTS: tuple[NotificationEvent, ...] = ("requested", "decided", "expired")
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+")]


def env_secret(values: Any, key: str) -> Any:
    """Fold `<key>_env` (the name of an environment variable) into `key`."""
    if not isinstance(values, dict) or f"{key}_env" not in values:
        return values
    values = dict(values)
    variable = values.pop(f"{key}_env")
    if key in values:
        raise ValueError(f"give {key} or {key}_env, not both")
    if not isinstance(variable, str) or variable not in os.environ:
        raise ValueError(f"{key}_env: environment variable {variable!r} is not set")
    values[key] = os.environ[variable]
    return values


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ApproverEntry(_Section):
    """One person who may vote from a chat tool, and who they are to the gateway."""

    slack_user: str | None = Field(default=None, description="Slack member id (U...); matched first.")
    email: str | None = Field(
        default=None, description="E-mail of the Slack profile (needs users:read.email); matched when no id matches."
    )
    subject: str = Field(description="The approver's subject: what self-approval and one-vote-each compare.")
    roles: tuple[str, ...] = Field(default=(), description="Roles the approver holds (the rule's approver_role).")
    tenant: str | None = Field(default=None, description="The approver's tenant.")

    @model_validator(mode="after")
    def _identified(self) -> ApproverEntry:
        if not self.slack_user and not self.email:
            raise ValueError("an approver entry needs slack_user or email")
        return self


class SlackSettings(_Section):
    signing_secret: str = Field(
        repr=False,
        min_length=16,
        description="The Slack app's signing secret (Basic Information); verifies interactions.",
    )
    bot_token: str = Field(
        repr=False, min_length=1, description="Bot token (xoxb-...) with chat:write; users:read.email for e-mail."
    )
    channel: str = Field(min_length=1, description="Channel id the approval messages are posted to.")
    api_url: HttpUrl = Field(default="https://slack.com/api", description="Slack Web API base URL.")
    events: tuple[NotificationEvent, ...] = Field(
        default=("requested", "voted", "decided", "expired"),
        description="Approval events that post the message (requested) or update it in place.",
    )
    argument_keys: tuple[str, ...] = Field(
        default=(), description="Argument keys shown in the message (after audit redaction); others stay out."
    )
    replay_window_seconds: float = Field(
        default=300.0, gt=0, le=300, description="Requests older or newer than this are refused (Slack: 5 minutes)."
    )
    timeout_seconds: float = Field(default=5.0, gt=0, description="Deadline of one Web API request.")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return env_secret(env_secret(values, "signing_secret"), "bot_token")


class TeamsSettings(_Section):
    webhook_url: HttpUrl = Field(
        repr=False, description="URL of the Teams workflow ('When a Teams webhook request is received')."
    )
    events: tuple[NotificationEvent, ...] = Field(default=_EVENTS, description="Approval events that post a card.")
    timeout_seconds: float = Field(default=5.0, gt=0, description="Deadline of one post.")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return env_secret(values, "webhook_url")


class EmailSettings(_Section):
    host: str = Field(min_length=1, description="SMTP server host.")
    port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (587), tls (implicit, 465) or none (a local relay only)."
    )
    ca_file: str | None = Field(
        default=None, description="CA bundle for the server's certificate (default: system CAs)."
    )
    username: str | None = Field(default=None, description="SMTP login; none: no AUTH.")
    password: str | None = Field(repr=False, default=None, description="SMTP password (prefer password_env).")
    sender: str = Field(min_length=3, description="From address.")
    recipients: tuple[str, ...] = Field(min_length=1, description="Who receives approval e-mails.")
    events: tuple[NotificationEvent, ...] = Field(default=("requested",), description="Approval events that mail.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Deadline of one SMTP conversation.")

    @model_validator(mode="before")
    @classmethod
    def _secrets(cls, values: Any) -> Any:
        return env_secret(values, "password")


class IntegrationSettings(_Section):
    slack: SlackSettings | None = Field(default=None, description="Interactive approvals in a Slack channel.")
    teams: TeamsSettings | None = Field(default=None, description="Adaptive Cards through a Teams workflow.")
    email: EmailSettings | None = Field(default=None, description="Approval e-mails over SMTP.")
    approvers: tuple[ApproverEntry, ...] = Field(default=(), description="Chat users who may vote, and who they are.")
    attempts: int = Field(default=5, ge=1, le=20, description="Delivery attempts per notification.")
    backoff_seconds: float = Field(default=0.5, gt=0, description="First retry delay; doubles up to 60 s.")
    queue_size: int = Field(default=1000, ge=1, description="Notifications queued per channel before dropping.")
