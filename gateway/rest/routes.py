"""The REST front door: `/v1/tools`, `/v1/tools/{name}:call`, `/v1/calls/{approval_id}`
and `/openapi.json`.

It turns a request into a ToolCall and hands it to the same `Pipeline.run` as MCP; all
it adds is HTTP: the body's checks, RFC 9457 errors and `Idempotency-Key` replays.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, request_response

from gateway.approvals import ApprovalError
from gateway.arguments import within_limits
from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.auth_gate import BearerAuthGate, principal_of
from gateway.dry_run import InvalidDryRun, dry_run_from_header
from gateway.errors import CallRefused
from gateway.models import ToolCall, ToolResult, split_qualified_name
from gateway.rest.body import read_arguments
from gateway.rest.idempotency import HEADER, IdempotencyStore, StoredResponse, check_key
from gateway.rest.openapi import TOOLS_PATH, openapi_document, tool_summary
from gateway.rest.prefer import CALLS_PATH, preferred_wait
from gateway.rest.problems import Problem, from_problem, from_refusal, problem_response, unauthorized_problem

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger(__name__)

Handler = Callable[[Request], Coroutine[Any, Any, Response]]

#: Answers worth replaying: the backend was reached or may have acted. A refusal before
#: forwarding is not kept, so a retry after a policy fix is decided afresh; nor is a 202
#: (held for approval), so a retry after the decision gets the outcome.
_REPLAYED_STATUSES = frozenset({200, 502, 504})


def _result_body(call: ToolCall, result: ToolResult) -> dict[str, Any]:
    return {
        "call_id": call.call_id,
        "tool": call.qualified_name,
        "content": list(result.content),
        "structured_content": result.structured,
        "is_error": result.is_error,
    }


def _stored(response: Response) -> StoredResponse:
    headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type"))
    return StoredResponse(response.status_code, bytes(response.body), response.media_type or "", headers)


def _replay(stored: StoredResponse, replayed: bool) -> Response:
    headers = dict(stored.headers)
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return Response(stored.body, status_code=stored.status, headers=headers, media_type=stored.media_type)


class RestFrontDoor:
    def __init__(self, gateway: Gateway, max_body_bytes: int, idempotency: IdempotencyStore | None = None) -> None:
        self.gateway = gateway
        self.max_body_bytes = max_body_bytes
        self.idempotency = idempotency or IdempotencyStore()

    async def list_tools(self, request: Request) -> Response:
        who = principal_of(request.scope)
        specs = await self.gateway.tools_for(who)
        return JSONResponse({"tools": [tool_summary(s, self.gateway.may_need_approval(who, s)) for s in specs]})

    async def openapi(self, request: Request) -> Response:
        specs = await self.gateway.tools_for(principal_of(request.scope))
        return JSONResponse(openapi_document(specs, str(request.base_url).rstrip("/")))

    async def call_status(self, request: Request) -> Response:
        approval_id = request.path_params["approval_id"]
        try:
            status = await self.gateway.approvals.status_for(approval_id, principal_of(request.scope))
        except ApprovalError as exc:
            return problem_response(404 if exc.kind == "not_found" else 503, exc.kind, exc.message)
        return JSONResponse(status.to_json(), headers={"Cache-Control": "no-store"})

    async def call_tool(self, request: Request) -> Response:
        try:
            key = request.headers.get(HEADER)
            if key is not None:
                check_key(key)
            arguments = await read_arguments(request, self.max_body_bytes)
            call = self._tool_call(request, arguments, key)
            # A dry run's report must never be replayed as the outcome of the real call.
            if key is None or call.dry_run or not within_limits(arguments, self.gateway.config.arguments):
                # Over-limit arguments cannot be digested for the key: the pipeline refuses them.
                return await self._run(call)
            owner = (call.principal.issuer, call.principal.subject, call.principal.tenant)
            digest = sha256_hex(canonical_json({"tool": call.qualified_name, "arguments": arguments}))
            stored, replayed = await self.idempotency.run_once(
                owner, key, digest, lambda: self._run_stored(call), lambda s: s.status in _REPLAYED_STATUSES
            )
            return _replay(stored, replayed)
        except Problem as problem:
            return from_problem(problem)

    def _tool_call(self, request: Request, arguments: dict[str, Any], key: str | None) -> ToolCall:
        name = request.path_params["name"]
        parts = split_qualified_name(name)
        if parts is None:
            raise Problem(404, "unknown_tool", f"unknown tool {name!r}: tool names are 'connector.tool'")
        return ToolCall.new(
            principal_of(request.scope),
            parts[0],
            parts[1],
            arguments,
            front_door="rest",
            traceparent=request.headers.get("traceparent"),
            client=request.headers.get("user-agent"),
            idempotency_key=key,
            wait_seconds=preferred_wait(request.headers),
            dry_run=_dry_run(request),
        )

    async def _run(self, call: ToolCall) -> Response:
        try:
            result = await self.gateway.pipeline.run(call)
        except CallRefused as refusal:
            return from_refusal(refusal, call.call_id)
        except Exception:
            # Internal text never reaches the agent; the call id finds the log line.
            log.exception("call %s failed inside the gateway", call.call_id)
            return problem_response(500, "internal_error", "internal gateway error", call_id=call.call_id)
        return JSONResponse(_result_body(call, result), headers={"X-Call-Id": call.call_id})

    async def _run_stored(self, call: ToolCall) -> StoredResponse:
        return _stored(await self._run(call))


def _dry_run(request: Request) -> bool:
    try:
        return dry_run_from_header(request.headers)
    except InvalidDryRun as exc:
        raise Problem(400, "invalid_header", str(exc)) from None


def rest_routes(gateway: Gateway, max_body_bytes: int) -> list[BaseRoute]:
    """The REST front door's routes, each behind the bearer-token gate."""
    door = RestFrontDoor(gateway, max_body_bytes)

    def guarded(handler: Handler) -> BearerAuthGate:
        return BearerAuthGate(request_response(handler), gateway.authenticate, unauthorized_problem)

    return [
        Route(TOOLS_PATH, guarded(door.list_tools), methods=["GET"]),
        Route(TOOLS_PATH + "/{name}:call", guarded(door.call_tool), methods=["POST"]),
        Route(CALLS_PATH + "/{approval_id}", guarded(door.call_status), methods=["GET"]),
        Route("/openapi.json", guarded(door.openapi), methods=["GET"]),
    ]
