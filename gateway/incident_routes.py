"""The incident-response endpoints, joined to the app once the gateway's stores are open."""

from __future__ import annotations

from starlette.routing import Route

from gateway.policy.shadow_api import routes as shadow_routes
from gateway.runtime import Gateway
from gateway.suspensions.api import routes as suspension_routes
from gateway.undo.api import routes as undo_routes


def incident_routes(gateway: Gateway) -> list[Route]:
    admin = gateway.config.policy.admin_role
    # Approvers review suspensions; a brake's reviewers may resume what it suspended.
    reviewers = tuple(
        dict.fromkeys(
            [*gateway.config.approvals.approver_roles, *(r for b in gateway.config.brakes for r in b.reviewer_roles)]
        )
    )
    return [
        *suspension_routes(gateway.suspensions, gateway.authenticate, admin, reviewers),
        *undo_routes(gateway, gateway.authenticate),
        *shadow_routes(gateway, gateway.authenticate),
    ]
