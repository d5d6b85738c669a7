"""The auditor's REST endpoint: the CLI's queries over HTTP, for a token with the auditor role.

GET /v1/audit/calls?agent=&connector=&tool=&outcome=&approver=&since=&until=&trace_id=&after=&limit=
GET /v1/audit/traces/{trace_id}
GET /v1/audit/records?after=&limit=   (or ?tail=N)
GET /v1/audit/records/{seq}
GET /v1/audit/records/{seq}/proof
GET /v1/audit/checkpoint
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.audit.log import AuditLog
from gateway.audit.proof import ProofError, prove
from gateway.audit.query import CallQuery, parse_time, record_json
from gateway.audit.store import StoreError
from gateway.auth_gate import unauthorized
from gateway.identity import AuthError
from gateway.models import Principal

Authorize = Callable[[Request], Principal | Awaitable[Principal]]
Handler = Callable[[Request], Awaitable[dict[str, Any]]]

MAX_LIMIT = 1000


class _BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _BadRequest(400, f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _BadRequest(400, f"query parameter {name!r} must be between {low} and {high}, got {value}")
    return value


def _time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    try:
        return None if raw is None else parse_time(raw)
    except ValueError as exc:
        raise _BadRequest(400, f"query parameter {name!r}: {exc}") from None


_CALL_FILTERS = ("agent", "connector", "tool", "outcome", "approver", "trace_id", "call_id")


def routes(audit_log: AuditLog, authorize: Authorize) -> list[Route]:
    """`authorize(request)` returns the caller's Principal or raises AuthError (401); the
    principal also needs `audit.auditor_role` (403)."""
    role = audit_log.settings.auditor_role
    queries = audit_log.queries

    def guarded(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            try:
                principal = authorize(request)
                if inspect.isawaitable(principal):
                    principal = await principal
            except AuthError as exc:
                return unauthorized(str(exc))
            if role not in principal.roles:
                return JSONResponse({"error": "forbidden", "detail": f"requires the {role!r} role"}, status_code=403)
            try:
                return JSONResponse(await handler(request))
            except _BadRequest as exc:
                return JSONResponse({"error": "bad_request", "detail": str(exc)}, status_code=exc.status)
            except StoreError as exc:
                return JSONResponse({"error": "audit_unavailable", "detail": str(exc)}, status_code=503)
            except ValueError as exc:
                # Stored data that does not decode: tampering that `gateway audit verify` locates.
                return JSONResponse({"error": "audit_log_corrupt", "detail": str(exc)}, status_code=500)

        return endpoint

    async def calls(request: Request) -> dict[str, Any]:
        unknown = set(request.query_params) - {*_CALL_FILTERS, "since", "until", "after", "limit"}
        if unknown:
            raise _BadRequest(400, f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        limit = _int(request, "limit", 100, 1, MAX_LIMIT)
        filters: dict[str, Any] = {name: request.query_params.get(name) for name in _CALL_FILTERS}
        query = CallQuery(
            **filters,
            since=_time(request, "since"),
            until=_time(request, "until"),
            after_seq=_int(request, "after", 0, 0, 2**62),
            limit=limit,
        )
        found = await queries.calls(query)
        return {
            "calls": [c.to_json() for c in found],
            # Page on with ?after=next_after; null when this page was the last.
            "next_after": found[-1].seq if len(found) == limit else None,
        }

    async def trace(request: Request) -> dict[str, Any]:
        trace_id = request.path_params["trace_id"]
        found = await queries.trace(trace_id)
        if not found:
            raise _BadRequest(404, f"no call with trace id {trace_id}")
        return {"trace_id": trace_id, "calls": [c.to_json(with_records=True) for c in found]}

    async def story(request: Request) -> dict[str, Any]:
        ident = request.path_params["ident"]
        found = await queries.story(ident)
        if not found:
            raise _BadRequest(404, f"no call with call id, trace id or approval id {ident}")
        return {"id": ident, "calls": [c.to_json(with_records=True) for c in found]}

    async def records(request: Request) -> dict[str, Any]:
        if "tail" in request.query_params:
            found = await audit_log.store.latest(_int(request, "tail", 20, 1, MAX_LIMIT))
        else:
            after = _int(request, "after", 0, 0, 2**62)
            found = await audit_log.store.records(after, _int(request, "limit", 100, 1, MAX_LIMIT))
        return {"records": [record_json(r) for r in found]}

    async def record(request: Request) -> dict[str, Any]:
        seq = request.path_params["seq"]
        found = await audit_log.store.record(seq)
        if found is None:
            raise _BadRequest(404, f"there is no record {seq}")
        return record_json(found)

    async def proof(request: Request) -> dict[str, Any]:
        try:
            return await prove(audit_log.store, request.path_params["seq"])
        except ProofError as exc:
            raise _BadRequest(404, str(exc)) from None

    async def checkpoint(request: Request) -> dict[str, Any]:
        found = await audit_log.store.checkpoints()
        if not found:
            raise _BadRequest(404, "the log has no signed checkpoint yet")
        return found[-1].to_json()

    return [
        Route("/v1/audit/calls", guarded(calls), methods=["GET"]),
        Route("/v1/audit/traces/{trace_id}", guarded(trace), methods=["GET"]),
        Route("/v1/audit/story/{ident}", guarded(story), methods=["GET"]),
        Route("/v1/audit/records", guarded(records), methods=["GET"]),
        Route("/v1/audit/records/{seq:int}", guarded(record), methods=["GET"]),
        Route("/v1/audit/records/{seq:int}/proof", guarded(proof), methods=["GET"]),
        Route("/v1/audit/checkpoint", guarded(checkpoint), methods=["GET"]),
    ]
