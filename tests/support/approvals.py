"""Shared pieces of the approvals tests: calls, decisions, a recording audit sink, and a
real uvicorn server on an ephemeral loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request

from gateway.approvals import ApprovalService, api, console
from gateway.audit import AuditLog
from gateway.config import ApprovalSettings, AuditSettings
from gateway.identity import AuthError
from gateway.models import Decision, Effect, Principal, ToolCall

SECRET = "approvals-test-secret-0123456789abcdef"
ISSUER = "agent-gateway"
AUDIENCE = "agent-gateway"
AGENT = Principal(subject="agent-7", roles=("agent",), issuer=ISSUER)


@dataclass
class RecordingAudit:
    """Records appends; `fail` makes the next appends raise like an unavailable log."""

    records: list[tuple[str, dict[str, Any], str | None]] = field(default_factory=list)
    fail: bool = False

    async def append(self, kind: str, data: Mapping[str, Any], call_id: str | None = None) -> None:
        if self.fail:
            raise RuntimeError("disk full")
        json.dumps(data)  # the contract: every record is JSON-serialisable
        self.records.append((kind, dict(data), call_id))

    def kinds(self) -> list[str]:
        return [k for k, _, _ in self.records]


def approver(name: str, *roles: str) -> Principal:
    return Principal(subject=name, roles=roles or ("approver",), issuer=ISSUER)


def make_call(arguments: Mapping[str, Any] | None = None, principal: Principal = AGENT) -> ToolCall:
    return ToolCall(
        call_id=uuid.uuid4().hex,
        principal=principal,
        connector="sap",
        tool="transfer",
        arguments=dict(arguments or {"amount": 50_000, "to": "DE89370400440532013000"}),
        trace_id=uuid.uuid4().hex,
        traceparent=f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
    )


def digest(call: ToolCall) -> str:
    return hashlib.sha256(json.dumps(call.arguments, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def needs_approval(required: int = 2, role: str | None = "approver", ttl: float | None = None) -> Decision:
    return Decision(
        effect=Effect.APPROVE,
        rule="policies/finance.csv:3",
        reason="transfers above 10,000 need two approvers",
        policy_version="v1",
        approvals_required=required,
        approver_role=role,
        approval_ttl=ttl,
    )


def token(subject: str, roles: tuple[str, ...] = ("approver",), *, secret: str = SECRET, ttl: float = 600) -> str:
    now = int(time.time())
    claims = {"sub": subject, "roles": list(roles), "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + ttl}
    return jwt.encode(claims, secret, algorithm="HS256")


def authorize(request: Request) -> Principal:
    """A real HS256 verifier standing in for the lead's identity module."""
    header = request.headers.get("authorization", "")
    scheme, _, raw = header.partition(" ")
    if scheme.lower() != "bearer" or not raw:
        raise AuthError("missing bearer token")
    try:
        claims = jwt.decode(raw, SECRET, algorithms=["HS256"], issuer=ISSUER, audience=AUDIENCE)
    except jwt.InvalidTokenError as exc:
        raise AuthError(f"invalid token: {exc}") from None
    return Principal(subject=claims["sub"], roles=tuple(claims.get("roles", ())), issuer=claims["iss"], claims=claims)


@contextlib.asynccontextmanager
async def serve(app: Starlette) -> AsyncIterator[str]:
    """Run `app` with uvicorn on 127.0.0.1:<ephemeral>; yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)


@dataclass
class Stack:
    """A real audit log and approval service on one SQLite file, with the API served."""

    url: str
    service: ApprovalService
    audit: AuditLog

    async def audit_kinds(self, prefix: str = "approval.") -> list[str]:
        records = await self.audit.store.latest(1000)
        return [r.kind for r in sorted(records, key=lambda r: r.seq) if r.kind.startswith(prefix)]


@contextlib.asynccontextmanager
async def approval_stack(directory: Path, **overrides: Any) -> AsyncIterator[Stack]:
    database = str(directory / "gateway.db")
    audit = await AuditLog.open(AuditSettings(database=database))
    settings = ApprovalSettings(**{"database": database, "default_ttl_seconds": 60, **overrides})
    service = await ApprovalService.open(settings, audit)
    app = Starlette(routes=[*api.routes(service, authorize), *console.routes()])
    try:
        async with serve(app) as url:
            yield Stack(url, service, audit)
    finally:
        await service.close()
        await audit.close()
