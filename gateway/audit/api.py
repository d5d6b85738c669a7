"""The auditor's REST endpoint: the CLI's queries over HTTP, for a token with the auditor role.

GET /v1/audit/calls?agent=&connector=&tool=&outcome=&approver=&since=&until=&trace_id=&after=&limit=
GET /v1/audit/traces/{trace_id}
GET /v1/audit/story/{ident}   (a call id, trace id or approval id)
GET /v1/audit/records?after=&limit=   (or ?tail=N)
GET /v1/audit/records/{seq}
GET /v1/audit/records/{seq}/proof
GET /v1/audit/checkpoint
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.audit.log import AuditLog
from gateway.audit.proof import ProofError, prove
from gateway.audit.query import CallQuery, parse_time, record_json
from gateway.auth_gate import Authorize, Endpoint, requires_role
from gateway.errors import Problem, StoreError

Handler = Callable[[Request], Awaitable[dict[str, Any]]]

MAX_LIMIT = 1000


def _bad_request(detail: str) -> Problem:
    return Problem(400, "bad_request", detail)


def _not_found(detail: str) -> Problem:
    return Problem(404, "not_found", detail)


def answering(handler: Handler) -> Endpoint:
    """The handler's JSON, or what kept the log from answering as a problem."""

    async def endpoint(request: Request) -> Response:
        try:
            return JSONResponse(await handler(request))
        except StoreError as exc:
            raise Problem(503, "audit_unavailable", str(exc)) from None
        except ValueError as exc:
            # Stored data that does not decode: tampering that `gateway audit verify` locates.
            raise Problem(500, "audit_log_corrupt", str(exc)) from None

    return endpoint


def _int(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad_request(f"query parameter {name!r} must be an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _bad_request(f"query parameter {name!r} must be between {low} and {high}, got {value}")
    return value


def _time(request: Request, name: str) -> float | None:
    raw = request.query_params.get(name)
    try:
        return None if raw is None else parse_time(raw)
    except ValueError as exc:
        raise _bad_request(f"query parameter {name!r}: {exc}") from None


_CALL_FILTERS = ("agent", "connector", "tool", "outcome", "approver", "trace_id", "call_id")


class _AuditEndpoints:
    """The handlers, each answering one query over `audit_log` as JSON."""

    def __init__(self, audit_log: AuditLog) -> None:
        self._log = audit_log
        self._queries = audit_log.queries

    async def calls(self, request: Request) -> dict[str, Any]:
        unknown = set(request.query_params) - {*_CALL_FILTERS, "since", "until", "after", "limit"}
        if unknown:
            raise _bad_request(f"unknown query parameter(s): {', '.join(sorted(unknown))}")
        limit = _int(request, "limit", 100, 1, MAX_LIMIT)
        filters: dict[str, Any] = {name: request.query_params.get(name) for name in _CALL_FILTERS}
        query = CallQuery(
            **filters,
            since=_time(request, "since"),
            until=_time(request, "until"),
            after_seq=_int(request, "after", 0, 0, 2**62),
            limit=limit,
        )
        found = await self._queries.calls(query)
        return {
            "calls": [c.to_json() for c in found],
            # Page on with ?after=next_after; null when this page was the last.
            "next_after": found[-1].seq if len(found) == limit else None,
        }

    async def trace(self, request: Request) -> dict[str, Any]:
        trace_id = request.path_params["trace_id"]
        found = await self._queries.trace(trace_id)
        if not found:
            raise _not_found(f"no call with trace id {trace_id}")
        return {"trace_id": trace_id, "calls": [c.to_json(with_records=True) for c in found]}

    async def story(self, request: Request) -> dict[str, Any]:
        ident = request.path_params["ident"]
        found = await self._queries.story(ident)
        if not found:
            raise _not_found(f"no call with call id, trace id or approval id {ident}")
        return {"id": ident, "calls": [c.to_json(with_records=True) for c in found]}

    async def records(self, request: Request) -> dict[str, Any]:
        store = self._log.store
        if "tail" in request.query_params:
            found = await store.latest(_int(request, "tail", 20, 1, MAX_LIMIT))
        else:
            after = _int(request, "after", 0, 0, 2**62)
            found = await store.records(after, _int(request, "limit", 100, 1, MAX_LIMIT))
        return {"records": [record_json(r) for r in found]}

    async def record(self, request: Request) -> dict[str, Any]:
        seq = request.path_params["seq"]
        found = await self._log.store.record(seq)
        if found is None:
            raise _not_found(f"there is no record {seq}")
        return record_json(found)

    async def proof(self, request: Request) -> dict[str, Any]:
        try:
            return await prove(self._log.store, request.path_params["seq"])
        except ProofError as exc:
            raise _not_found(str(exc)) from None

    async def checkpoint(self, request: Request) -> dict[str, Any]:
        found = await self._log.store.checkpoints()
        if not found:
            raise _not_found("the log has no signed checkpoint yet")
        return found[-1].to_json()


def routes(audit_log: AuditLog, authorize: Authorize) -> list[Route]:
    """`authorize(request)` returns the caller's Principal or raises AuthError (401); the
    principal also needs `audit.auditor_role` (403)."""
    auditor = requires_role(audit_log.settings.auditor_role, authenticate=authorize)
    endpoints = _AuditEndpoints(audit_log)

    def guarded(handler: Handler) -> Endpoint:
        return auditor(answering(handler))

    return [
        Route("/v1/audit/calls", guarded(endpoints.calls), methods=["GET"]),
        Route("/v1/audit/traces/{trace_id}", guarded(endpoints.trace), methods=["GET"]),
        Route("/v1/audit/story/{ident}", guarded(endpoints.story), methods=["GET"]),
        Route("/v1/audit/records", guarded(endpoints.records), methods=["GET"]),
        Route("/v1/audit/records/{seq:int}", guarded(endpoints.record), methods=["GET"]),
        Route("/v1/audit/records/{seq:int}/proof", guarded(endpoints.proof), methods=["GET"]),
        Route("/v1/audit/checkpoint", guarded(endpoints.checkpoint), methods=["GET"]),
    ]
