"""Undo over REST (admin role): `POST /v1/admin/undo`.

Body: one of `{"trace_id": ...}`, `{"call_id": ...}`, `{"agent": ..., "since": ...}` (since:
ISO 8601 or unix seconds), and `"execute": true` to run the compensations (default: list
them only). Each compensation runs as a call of the caller, so the policy must allow the
caller the compensating tool, and approvals apply.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator
from starlette.requests import Request
from starlette.routing import Route

from gateway.audit.kinds import RecordKind
from gateway.audit.query import parse_time
from gateway.auth_gate import caller_token_of
from gateway.models import Principal
from gateway.operator_api import ApiProblem, Authenticate, endpoint, read_body
from gateway.runtime import Gateway
from gateway.undo.plan import Selector, plan
from gateway.undo.run import execute


class UndoBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    trace_id: str | None = Field(default=None, min_length=1, max_length=64, description="Every call of a trace.")
    call_id: str | None = Field(default=None, min_length=1, max_length=64, description="One call.")
    agent: str | None = Field(default=None, min_length=1, max_length=256, description="An agent's calls...")
    since: str | float | None = Field(default=None, description="...received at or after this time.")
    execute: StrictBool = Field(default=False, description="Run the compensations (default: list them).")

    @model_validator(mode="after")
    def one_selector(self) -> UndoBody:
        given = [name for name in ("trace_id", "call_id", "agent") if getattr(self, name) is not None]
        if len(given) != 1:
            raise ValueError("name exactly one of trace_id, call_id or agent (with since)")
        if (self.agent is None) != (self.since is None):
            raise ValueError("agent and since go together")
        return self


def routes(gateway: Gateway, authenticate: Authenticate) -> list[Route]:
    admin = gateway.config.policy.admin_role

    async def undo(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        body = await read_body(request, UndoBody)
        selector = Selector(body.trace_id, body.call_id, body.agent, _since(body.since))
        read_only = [s.qualified_name for s in await gateway.catalog.specs() if s.read_only]
        steps = await plan(gateway.audit.queries, selector, read_only)
        await gateway.audit.append(
            RecordKind.UNDO_REQUESTED,
            {"by": principal.subject, "selector": selector.describe(), "execute": body.execute, "calls": len(steps)},
        )
        if body.execute:
            reports = await execute(steps, principal, gateway.pipeline.run, caller_token_of(request.scope))
        else:
            reports = [s.to_json() for s in steps]
        return 200, {"selector": selector.describe(), "executed": body.execute, "steps": reports}

    return [Route("/v1/admin/undo", endpoint(authenticate, lambda: (admin,), undo), methods=["POST"])]


def _since(value: str | float | None) -> float | None:
    if value is None or isinstance(value, float):
        return value
    try:
        return parse_time(value)
    except ValueError as exc:
        raise ApiProblem(400, f"since: {exc}") from None
