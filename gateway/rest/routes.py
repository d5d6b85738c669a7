"""The REST front door: `/v1/tools`, `/v1/tools/{name}:call`, `/v1/calls/{approval_id}`
and `/openapi.json`.

It turns a request into a ToolCall and hands it to the same `Pipeline.run` as MCP; all
it adds is HTTP: the body's checks, RFC 9457 errors and `Idempotency-Key` replays.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway.approvals import ApprovalError
from gateway.arguments import within_limits
from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.auth_gate import caller_token_of, principal_of, requires_role
from gateway.dry_run import InvalidDryRun, dry_run_from_header
from gateway.errors import CallRefused, Problem
from gateway.models import ToolCall, ToolResult, split_qualified_name
from gateway.problems import problem_response
from gateway.rest.body import read_arguments
from gateway.rest.idempotency import HEADER, IdempotencyStore, StoredResponse, check_key
from gateway.rest.openapi import TOOLS_PATH, openapi_document, tool_summary
from gateway.rest.prefer import CALLS_PATH, preferred_wait
from gateway.rest.problems import from_refusal

if TYPE_CHECKING:
    from gateway.runtime import Gateway

log = logging.getLogger(__name__)

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
        # A retry of an approved call gets the stored result of its single execution.
        **({"replayed": True, "approval_id": result.replay_of_approval} if result.replay_of_approval else {}),
    }


def _stored(response: Response) -> StoredResponse:
    headers = tuple((k, v) for k, v in response.headers.items() if k.lower() not in ("content-length", "content-type"))
    return StoredResponse(response.status_code, bytes(response.body), response.media_type or "", headers)


def _replay(stored: StoredResponse, replayed: bool, call_id: str) -> Response:
    """The answer; a replay says so: header `Idempotent-Replayed: true`, `X-Replay-Of` and
    body fields `replayed` and `replay_of` naming the call that produced it, and its own
    call id (the replay's records in the audit log) in `X-Call-Id` and `call_id`."""
    headers = dict(stored.headers)
    body = stored.body
    if replayed:
        original = _original_call_id(stored)
        headers = {k: v for k, v in headers.items() if k.lower() != "x-call-id"}
        headers.update({"Idempotent-Replayed": "true", "X-Call-Id": call_id, "X-Replay-Of": original or ""})
        try:
            document = json.loads(body)
        except ValueError:
            document = None
        if isinstance(document, dict):
            document.update(call_id=call_id, replayed=True, replay_of=original)
            body = json.dumps(document).encode()
    return Response(body, status_code=stored.status, headers=headers, media_type=stored.media_type)


def _original_call_id(stored: StoredResponse) -> str | None:
    return next((v for k, v in stored.headers if k.lower() == "x-call-id"), None)


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
            raise Problem(404 if exc.kind == "not_found" else 503, exc.kind, exc.message) from None
        return JSONResponse(status.to_json(), headers={"Cache-Control": "no-store"})

    async def call_tool(self, request: Request) -> Response:
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
            owner,
            key,
            digest,
            lambda: self._run_stored(call),
            lambda s: s.status in _REPLAYED_STATUSES,
            lambda s: self._recheck_replay(call, s),
        )
        return _replay(stored, replayed, call.call_id)

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
            caller_token=caller_token_of(request.scope),
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

    async def _recheck_replay(self, call: ToolCall, stored: StoredResponse) -> StoredResponse | None:
        """None when the policy in force admits the replay (recorded as `call.replayed`),
        else the refusal to answer with."""
        try:
            await self.gateway.pipeline.replay(call, _original_call_id(stored))
        except CallRefused as refusal:
            return _stored(from_refusal(refusal, call.call_id))
        except Exception:
            log.exception("replay %s failed inside the gateway", call.call_id)
            return _stored(problem_response(500, "internal_error", "internal gateway error", call_id=call.call_id))
        return None

    async def _run_stored(self, call: ToolCall) -> StoredResponse:
        return _stored(await self._run(call))


def _dry_run(request: Request) -> bool:
    try:
        return dry_run_from_header(request.headers)
    except InvalidDryRun as exc:
        raise Problem(400, "invalid_header", str(exc)) from None


def rest_routes(gateway: Gateway, max_body_bytes: int) -> list[BaseRoute]:
    """The REST front door's routes: any authenticated agent (policy decides the rest)."""
    door = RestFrontDoor(gateway, max_body_bytes)
    guarded = requires_role(authenticate=gateway.authenticate)
    return [
        Route(TOOLS_PATH, guarded(door.list_tools), methods=["GET"]),
        Route(TOOLS_PATH + "/{name}:call", guarded(door.call_tool), methods=["POST"]),
        Route(CALLS_PATH + "/{approval_id}", guarded(door.call_status), methods=["GET"]),
        Route("/openapi.json", guarded(door.openapi), methods=["GET"]),
    ]
