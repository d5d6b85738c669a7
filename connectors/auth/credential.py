"""What every auth kind gives a connector: a `Credential` for one call, and the
`BackendAuth` interface that hands them out. Imports nothing of the kinds beside it."""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from connectors.base import CallContext


@dataclass(frozen=True, slots=True)
class Credential:
    """What the connector presents to the backend for one call. `identity` names it for the
    audit record (never a secret); the secret parts never appear in a repr."""

    identity: Mapping[str, str]
    #: Headers an HTTP request carries (e.g. `authorization`).
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    #: The parts, for a protocol that is not HTTP (the mainframe's sign-on fields).
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    token: str | None = field(default=None, repr=False)


class BackendAuth(Protocol):
    #: True when each call needs the caller's own token (token exchange): such an auth has
    #: no credential for requests made for nobody (health probes, document fetches).
    acts_for_caller: bool

    async def credential(self, context: CallContext | None) -> Credential | None:
        """The credential for this call (`context` None: a request for no caller; None when
        this auth has nothing to present then). Raises CredentialRefused or BackendUnavailable
        when none can be had; never falls back to another identity."""

    def rejected(self, credential: Credential) -> bool:
        """The backend refused `credential` (HTTP 401): forget it if it was cached; True when
        asking `credential()` again may give a different one worth one more try."""

    async def close(self) -> None: ...


def caller_key(context: CallContext) -> Hashable:
    """Who a per-caller credential belongs to: the person (issuer, subject) and the agent
    acting for them (client, actor chain), so two agents for one person never share one."""
    p = context.principal
    return (p.issuer, p.subject, p.client, p.actors)
