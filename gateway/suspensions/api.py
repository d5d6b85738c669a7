"""The kill switch over REST (admin role; a brake's reviewers may also list and resume).

GET  /v1/admin/suspensions?state=active|all&limit=N
POST /v1/admin/suspensions                  {"scope": "subject", "value": "agent-7", "tenant": null, "reason": "..."}
POST /v1/admin/suspensions/{id}/resume      {"reason": "..."}
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from gateway.models import Principal
from gateway.operator_api import ApiProblem, Authenticate, endpoint, read_body
from gateway.suspensions.model import Scope, SuspensionError
from gateway.suspensions.service import SuspensionService

MAX_LIMIT = 500


class SuspendBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: Literal["subject", "client", "tenant", "all"] = Field(description="What is suspended.")
    value: str | None = Field(default=None, max_length=256, description="The subject, client or tenant name.")
    tenant: str | None = Field(default=None, max_length=256, description="Narrows a subject or client to a tenant.")
    reason: str = Field(min_length=1, max_length=2000, description="Why; audited and shown to the agent.")


class ResumeBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field(min_length=1, max_length=2000, description="Why it may run again; audited.")


def routes(
    service: SuspensionService, authenticate: Authenticate, admin_role: str, reviewer_roles: tuple[str, ...]
) -> list[Route]:
    def admins() -> tuple[str, ...]:
        return (admin_role,)

    def admins_and_reviewers() -> tuple[str, ...]:
        return (admin_role, *reviewer_roles)

    async def list_suspensions(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        state = request.query_params.get("state", "active")
        if state not in ("active", "all"):
            raise ApiProblem(400, f"query parameter 'state' must be active or all, got {state!r}")
        limit = _limit(request.query_params.get("limit"))
        if state == "active":
            await service.refresh()
            found = list(service.active())[:limit]
        else:
            found = await service.history(limit)
        return 200, {"suspensions": [s.to_json() for s in found]}

    async def suspend(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        body = await read_body(request, SuspendBody)
        scope: Scope = body.scope
        suspension = await service.suspend(
            scope, body.value, tenant=body.tenant, reason=body.reason, by=principal.subject
        )
        return 201, {"suspension": suspension.to_json()}

    async def resume(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        body = await read_body(request, ResumeBody)
        suspension_id = request.path_params["suspension_id"]
        current = next((s for s in service.active() if s.suspension_id == suspension_id), None)
        if admin_role not in principal.roles and (
            current is None or not set(current.resumable_by) & set(principal.roles)
        ):
            raise SuspensionError("forbidden", f"resuming {suspension_id} requires the {admin_role!r} role")
        resumed = await service.resume(suspension_id, reason=body.reason, by=principal.subject)
        return 200, {"suspension": resumed.to_json()}

    return [
        Route("/v1/admin/suspensions", endpoint(authenticate, admins_and_reviewers, list_suspensions), methods=["GET"]),
        Route("/v1/admin/suspensions", endpoint(authenticate, admins, suspend), methods=["POST"]),
        Route(
            "/v1/admin/suspensions/{suspension_id}/resume",
            endpoint(authenticate, admins_and_reviewers, resume),
            methods=["POST"],
        ),
    ]


def _limit(raw: str | None) -> int:
    try:
        value = 100 if raw is None else int(raw)
    except ValueError:
        raise ApiProblem(400, f"query parameter 'limit' must be an integer, got {raw!r}") from None
    if not 1 <= value <= MAX_LIMIT:
        raise ApiProblem(400, f"query parameter 'limit' must be between 1 and {MAX_LIMIT}, got {value}")
    return value
