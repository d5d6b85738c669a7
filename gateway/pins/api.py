"""The reviewers' REST API for tool definitions. Errors are RFC 9457 problem documents.

GET  /v1/catalog/pending                    definitions waiting for review
GET  /v1/catalog/pending/{tool}             one of them with a readable diff (?digest= to choose)
POST /v1/catalog/pending/{tool}/approve     {"digest": "..."} (optional): pin it; agents see it at once

Every request needs a bearer JWT with one of `catalog.reviewer_roles`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.auth_gate import principal_of, requires_role
from gateway.errors import Problem
from gateway.models import Principal, qualified_name
from gateway.pins.definition import readable_diff
from gateway.pins.gate import PinError
from gateway.pins.store import Pin
from gateway.runtime import Gateway

MAX_BODY = 4096
Handler = Callable[[Request, Principal], Awaitable[dict[str, Any]]]


def pending_json(pin: Pin, old: Pin | None, *, diff: bool) -> dict[str, Any]:
    name = qualified_name(pin.connector, pin.tool)
    data = {
        "tool": name,
        "digest": pin.digest,
        "approved_digest": old.digest if old else None,
        "change": "changed" if old else "added",
        "seen_at": pin.seen_at,
        "screening": pin.findings,
    }
    if diff:
        data["diff"] = readable_diff(old.definition if old else None, pin.definition, name)
        data["definition"] = pin.definition
    return data


def routes(gateway: Gateway) -> list[Route]:
    reviewer = requires_role(*gateway.config.catalog.reviewer_roles, authenticate=gateway.authenticate)

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            if gateway.pins is None:
                raise Problem(404, "not_found", "tool-definition pinning is off (catalog.pinning)")
            try:
                body = await handler(request, principal_of(request.scope))
            except PinError as exc:
                raise Problem(exc.status, "catalog", exc.message) from None
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

        return reviewer(endpoint)

    async def pending(request: Request, principal: Principal) -> dict[str, Any]:
        assert gateway.pins is not None
        waiting = await gateway.pins.pending()
        return {"pending": [pending_json(pin, old, diff=False) for pin, old in waiting], "now": time.time()}

    async def show(request: Request, principal: Principal) -> dict[str, Any]:
        assert gateway.pins is not None
        pin, old = await gateway.pins.find(request.path_params["tool"], request.query_params.get("digest"))
        return {"pending": pending_json(pin, old, diff=True)}

    async def approve(request: Request, principal: Principal) -> dict[str, Any]:
        body = await request.body()
        if len(body) > MAX_BODY:
            raise PinError(413, f"request body over {MAX_BODY} bytes")
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            raise PinError(400, "request body must be a JSON object") from None
        if not isinstance(data, dict) or set(data) - {"digest"} or not isinstance(data.get("digest", ""), str):
            raise PinError(400, 'request body must be {"digest": "..."} or empty')
        pin = await gateway.approve_definition(request.path_params["tool"], principal.subject, data.get("digest"))
        return {"approved": {"tool": qualified_name(pin.connector, pin.tool), "digest": pin.digest}}

    return [
        Route("/v1/catalog/pending", guarded(pending), methods=["GET"]),
        Route("/v1/catalog/pending/{tool}", guarded(show), methods=["GET"]),
        Route("/v1/catalog/pending/{tool}/approve", guarded(approve), methods=["POST"]),
    ]
