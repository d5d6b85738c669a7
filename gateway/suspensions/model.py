"""What a suspension is and whom it stops: plain data, no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from gateway.models import Principal

Scope = Literal["subject", "client", "tenant", "all"]
SCOPES: tuple[Scope, ...] = ("subject", "client", "tenant", "all")
#: Token claims naming the agent application (OAuth client): RFC 9068 `client_id`, OIDC `azp`.
CLIENT_CLAIMS = ("client_id", "azp")


class SuspensionError(Exception):
    """A suspend or resume that cannot be done; `kind` maps to an HTTP status."""

    def __init__(self, kind: Literal["invalid", "not_found", "conflict", "forbidden", "unavailable"], message: str):
        super().__init__(message)
        self.kind = kind
        self.message = message


def client_of(principal: Principal) -> str | None:
    """The agent application behind a token, from its signed claims only: a name the agent
    sends itself (MCP clientInfo, User-Agent) could be changed to slip past a suspension."""
    for claim in CLIENT_CLAIMS:
        value = principal.claims.get(claim)
        if isinstance(value, str) and value:
            return value
    return None


@dataclass(frozen=True, slots=True)
class Suspension:
    suspension_id: str
    scope: Scope
    #: The subject, client or tenant suspended; None for `all`.
    value: str | None
    #: Narrows a subject or client suspension to one tenant (None: in every tenant).
    tenant: str | None
    reason: str
    suspended_by: str
    suspended_at: float
    #: `manual`, or `brake:NAME` for an automatic brake.
    source: str = "manual"
    #: Roles that may resume it besides the admin role (a brake's reviewers).
    resumable_by: tuple[str, ...] = ()
    resumed_by: str | None = None
    resumed_at: float | None = None
    resume_reason: str | None = None

    @property
    def active(self) -> bool:
        return self.resumed_at is None

    def matches(self, principal: Principal) -> bool:
        if self.scope == "all":
            return True
        if self.scope == "tenant":
            return principal.tenant == self.value
        if self.tenant is not None and principal.tenant != self.tenant:
            return False
        if self.scope == "subject":
            return principal.subject == self.value
        return client_of(principal) == self.value

    def describe(self) -> str:
        """Whom it stops, as the refusal and the audit say it."""
        where = f" in tenant {self.tenant!r}" if self.tenant is not None else ""
        if self.scope == "all":
            return "every agent"
        if self.scope == "tenant":
            return f"every agent of tenant {self.value!r}"
        noun = "agent" if self.scope == "subject" else "agent application"
        return f"{noun} {self.value!r}{where}"

    def refusal(self) -> str:
        return (
            f"{self.describe()} is suspended ({self.source}, by {self.suspended_by}): {self.reason};"
            f" no call is accepted until it is resumed (suspension {self.suspension_id})"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "suspension_id": self.suspension_id,
            "scope": self.scope,
            "value": self.value,
            "tenant": self.tenant,
            "reason": self.reason,
            "suspended_by": self.suspended_by,
            "suspended_at": self.suspended_at,
            "source": self.source,
            "resumable_by": list(self.resumable_by),
            "active": self.active,
            "resumed_by": self.resumed_by,
            "resumed_at": self.resumed_at,
            "resume_reason": self.resume_reason,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Suspension:
        fields = {k: v for k, v in data.items() if k != "active"}
        fields["resumable_by"] = tuple(fields.get("resumable_by") or ())
        return cls(**fields)
