"""The `integrations` section: where approval notifications go (Slack, Teams, e-mail) and
who a chat user is when they vote (the approver directory).

Secrets are references like every secret of the config (`signing_secret:
${env:SLACK_SIGNING_SECRET}`, `${file:PATH}`; see gateway/config/secrets.py): an unset
variable or unreadable file is refused at start-up, a literal unless allow_inline_secrets.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from gateway.config.problems import NOT_SHOWN, KeyProblem
from gateway.config.secrets import Secret, SecretUrl

NotificationEvent = Literal["requested", "voted", "decided", "expired"]
_EVENTS: tuple[NotificationEvent, ...] = ("requested", "decided", "expired")
HttpUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s/]+")]


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
    signing_secret: Secret = Field(
        description="The Slack app's signing secret (Basic Information; at least 16 characters); verifies "
        "interactions.",
    )
    bot_token: Secret = Field(description="Bot token (xoxb-...) with chat:write; users:read.email for e-mail.")
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

    @field_validator("signing_secret")
    @classmethod
    def _long_enough(cls, secret: SecretStr) -> SecretStr:
        if len(secret.get_secret_value()) < 16:
            raise KeyProblem("", f"{NOT_SHOWN}: must be at least 16 characters")
        return secret


class TeamsSettings(_Section):
    webhook_url: SecretUrl = Field(
        description="URL of the Teams workflow ('When a Teams webhook request is received'); it carries its own "
        "signature, so it is a secret."
    )
    events: tuple[NotificationEvent, ...] = Field(default=_EVENTS, description="Approval events that post a card.")
    timeout_seconds: float = Field(default=5.0, gt=0, description="Deadline of one post.")


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
    password: Secret | None = Field(default=None, description="SMTP password.")
    sender: str = Field(min_length=3, description="From address.")
    recipients: tuple[str, ...] = Field(min_length=1, description="Who receives approval e-mails.")
    events: tuple[NotificationEvent, ...] = Field(default=("requested",), description="Approval events that mail.")
    timeout_seconds: float = Field(default=10.0, gt=0, description="Deadline of one SMTP conversation.")


class IntegrationSettings(_Section):
    slack: SlackSettings | None = Field(default=None, description="Interactive approvals in a Slack channel.")
    teams: TeamsSettings | None = Field(default=None, description="Adaptive Cards through a Teams workflow.")
    email: EmailSettings | None = Field(default=None, description="Approval e-mails over SMTP.")
    approvers: tuple[ApproverEntry, ...] = Field(default=(), description="Chat users who may vote, and who they are.")
    attempts: int = Field(default=5, ge=1, le=20, description="Delivery attempts per notification.")
    backoff_seconds: float = Field(default=0.5, gt=0, description="First retry delay; doubles up to 60 s.")
    queue_size: int = Field(default=1000, ge=1, description="Notifications queued per channel before dropping.")
