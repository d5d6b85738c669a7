"""Shadow policy and promotion over REST (admin role).

GET    /v1/admin/policy/shadow?limit=N     the report: counts by change, latest differences
POST   /v1/admin/policy/shadow             {"directory": "..."}: load a candidate beside the active policy
DELETE /v1/admin/policy/shadow             stop shadowing (the final report is returned)
POST   /v1/admin/policy/promote            write the candidate into the policy directory and reload
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.routing import Route

from gateway.models import Principal
from gateway.operator_api import ApiProblem, Authenticate, endpoint, read_body
from gateway.policy.errors import PolicyError
from gateway.policy.files import CASE_SUFFIXES, MODEL_FILE, RULE_SUFFIX, read_policy_files
from gateway.runtime import Gateway

MAX_LIMIT = 1000


class ShadowBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    directory: str = Field(min_length=1, max_length=4096, description="Candidate policy directory on the gateway.")


def routes(gateway: Gateway, authenticate: Authenticate) -> list[Route]:
    admin = gateway.config.policy.admin_role
    shadow = gateway.shadow

    def admins() -> tuple[str, ...]:
        return (admin,)

    async def report(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        current = shadow.current
        if current is None:
            raise ApiProblem(404, "no shadow policy is loaded")
        return 200, {"shadow": current.report(_limit(request.query_params.get("limit")))}

    async def load(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        body = await read_body(request, ShadowBody)
        directory = gateway.config.resolve(body.directory)
        try:
            loaded = await asyncio.to_thread(shadow.load, directory, principal.subject)
        except PolicyError as exc:
            raise ApiProblem(422, f"the candidate policy was not loaded: {exc}") from None
        await gateway.audit.append(
            "policy.shadow_loaded",
            {"by": principal.subject, "directory": str(directory), "version": loaded.engine.version},
        )
        return 201, {"shadow": loaded.report(0)}

    async def stop(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        stopped = shadow.stop()
        if stopped is None:
            raise ApiProblem(404, "no shadow policy is loaded")
        final = stopped.report(MAX_LIMIT)
        summary = {k: final[k] for k in ("directory", "version", "evaluated", "changed", "by_change")}
        await gateway.audit.append("policy.shadow_stopped", {"by": principal.subject, **summary})
        return 200, {"shadow": final}

    async def promote(request: Request, principal: Principal) -> tuple[int, dict[str, Any]]:
        try:
            texts = await asyncio.to_thread(shadow.files_to_promote)
        except PolicyError as exc:
            raise ApiProblem(409, str(exc)) from None
        active = gateway.policy.directory
        previous = (await asyncio.to_thread(read_policy_files, active)).texts
        await asyncio.to_thread(_write_policy, active, texts)
        result = await gateway.reload_policy(f"promote of the shadow policy by {principal.subject}")
        if not result.ok:
            # The running policy never changed; put its files back as they were.
            await asyncio.to_thread(_write_policy, active, previous)
            raise ApiProblem(422, f"the reload refused the candidate, nothing changed: {result.error}")
        shadow.stop()
        return 200, {"version": result.active_version, "changed": result.changed, "files": dict(result.file_hashes)}

    return [
        Route("/v1/admin/policy/shadow", endpoint(authenticate, admins, report), methods=["GET"]),
        Route("/v1/admin/policy/shadow", endpoint(authenticate, admins, load), methods=["POST"]),
        Route("/v1/admin/policy/shadow", endpoint(authenticate, admins, stop), methods=["DELETE"]),
        Route("/v1/admin/policy/promote", endpoint(authenticate, admins, promote), methods=["POST"]),
    ]


def _write_policy(directory: Path, texts: Mapping[str, str]) -> None:
    """Make the policy files of `directory` exactly `texts`: each written beside and renamed
    into place (a reader never sees half a file), files of the old policy not in it removed."""
    for name in os.listdir(directory):
        if name not in texts and (name == MODEL_FILE or name.endswith((RULE_SUFFIX, *CASE_SUFFIXES))):
            (directory / name).unlink()
    for name, text in texts.items():
        temporary = directory / f".{name}.promote"
        temporary.write_text(text, encoding="utf-8")
        temporary.replace(directory / name)


def _limit(raw: str | None) -> int:
    try:
        value = 100 if raw is None else int(raw)
    except ValueError:
        raise ApiProblem(400, f"query parameter 'limit' must be an integer, got {raw!r}") from None
    if not 0 <= value <= MAX_LIMIT:
        raise ApiProblem(400, f"query parameter 'limit' must be between 0 and {MAX_LIMIT}, got {value}")
    return value
