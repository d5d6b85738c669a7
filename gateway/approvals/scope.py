"""Who may see and decide which approvals: approver roles resolved like any role, per tenant.

An approver's names in a tenant are its JWT subject and token roles plus every role the
policy's `g` rows give them in that tenant (the policy engine's `names_for`). An approver
acts on the approvals of its own tenant where it holds the rule's approver role there.
It acts on another tenant's approvals only when the policy grants the role across tenants
explicitly: a `g` row giving it the role `any-tenant:ROLE` (e.g.
`g, group-cfo, any-tenant:cfo, *`). A token role spelled `any-tenant:...` grants nothing:
only the policy does. Auditor roles read the approvals of their scope and vote on none.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from gateway.approvals.store import Scope
from gateway.models import Approval, ApprovalVote, Principal
from gateway.policy.engine import identities_of

#: The role prefix a policy grants to let a role act on every tenant's approvals.
CROSS_TENANT = "any-tenant:"
#: The tenant name `g` rows use for "every tenant".
ANY_TENANT = "*"


class RoleResolver(Protocol):
    def names_for(self, identities: tuple[str, ...], tenant: str) -> frozenset[str]: ...


class PolicySource(Protocol):
    @property
    def current(self) -> RoleResolver: ...


class TokenRolesOnly:
    """Without a policy (tests of the approvals stage alone): token roles, no inheritance."""

    def names_for(self, identities: tuple[str, ...], tenant: str) -> frozenset[str]:
        return frozenset(identities)


class _Fixed:
    def __init__(self, resolver: RoleResolver) -> None:
        self.current = resolver


@dataclass(frozen=True, slots=True)
class Standing:
    """What one viewer may do with one approval."""

    #: The approver role it holds for this approval's tenant, and how ("tenant acme" or
    #: "cross-tenant grant"); None when it holds none.
    role: str | None
    via: str | None
    read: bool
    #: Why it cannot vote on this approval in any state (None: its role and tenant allow it).
    not_eligible: str | None


def tenant_of(approval: Approval) -> str:
    return approval.principal.tenant or ""


def voter_principal(vote: ApprovalVote) -> Principal:
    return Principal(subject=vote.approver, roles=vote.roles, tenant=vote.tenant, issuer=vote.issuer)


class ApproverScope:
    def __init__(self, policy: PolicySource | None, default_roles: Iterable[str], auditor_roles: Iterable[str]) -> None:
        self._policy: PolicySource = policy if policy is not None else _Fixed(TokenRolesOnly())
        self.default_roles = tuple(default_roles)
        self.auditor_roles = tuple(auditor_roles)

    def _names(self, principal: Principal) -> tuple[frozenset[str], frozenset[str]]:
        """(names in its own tenant, roles granted across tenants by the policy)."""
        resolver = self._policy.current
        identities = identities_of(principal)
        own = resolver.names_for(identities, principal.tenant or "")
        granted = own - frozenset(identities)
        cross = frozenset(n.removeprefix(CROSS_TENANT) for n in granted if n.startswith(CROSS_TENANT))
        return own, cross

    def required_roles(self, approval: Approval) -> tuple[str, ...]:
        return (approval.approver_role,) if approval.approver_role else self.default_roles

    def holds(self, principal: Principal, roles: Iterable[str], tenant: str) -> tuple[str, str] | None:
        """(role, how) for the first of `roles` the principal holds for `tenant`'s approvals."""
        own, cross = self._names(principal)
        for role in roles:
            if (principal.tenant or "") == tenant and role in own:
                return role, f"tenant {tenant or '(none)'}"
            if role in cross:
                return role, "cross-tenant grant"
        return None

    def standing(self, approval: Approval, viewer: Principal) -> Standing:
        tenant = tenant_of(approval)
        held = self.holds(viewer, self.required_roles(approval), tenant)
        if held is not None:
            return Standing(held[0], held[1], True, None)
        auditor = self.holds(viewer, self.auditor_roles, tenant) is not None
        roles = " or ".join(self.required_roles(approval))
        where = f"tenant {tenant}" if tenant else "calls without a tenant"
        return Standing(None, None, auditor, f"{viewer.subject} does not hold the approver role {roles} for {where}")

    def may_use_api(self, viewer: Principal) -> bool:
        own, cross = self._names(viewer)
        wanted = {*self.default_roles, *self.auditor_roles}
        return bool(wanted & own or wanted & cross)

    def visible(self, viewer: Principal) -> tuple[Scope, ...]:
        """What `viewer` may list: approvals whose role it holds in its tenant or across
        tenants, and everything of the tenant (or all tenants) where it is an auditor."""
        own, cross = self._names(viewer)
        tenant = viewer.tenant or ""
        defaults = set(self.default_roles)
        scopes = [Scope(tenant, own, bool(defaults & own)), Scope(None, cross, bool(defaults & cross))]
        if set(self.auditor_roles) & cross:
            return (Scope(None, None),)
        if set(self.auditor_roles) & own:
            scopes.append(Scope(tenant, None))
        return tuple(scopes)
