"""Approval tables made by the previous version (no 'superseded' state, no reason or
voter columns) are brought up to date when the service opens them, on both stores, and
the approvals in them keep working."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from gateway.approvals import ApprovalService, ApprovalSettings
from gateway.models import ApprovalState
from tests.support.approvals import AGENT, RecordingAudit, approver, digest, make_call, needs_approval
from tests.support.stores import POSTGRES, postgres_backend

PREVIOUS = """
CREATE TABLE approvals (
    approval_id TEXT PRIMARY KEY, binding TEXT NOT NULL, call_id TEXT NOT NULL, principal TEXT NOT NULL,
    connector TEXT NOT NULL, tool TEXT NOT NULL, arguments TEXT NOT NULL, arguments_digest TEXT NOT NULL,
    rule TEXT, policy_version TEXT NOT NULL, approvals_required INTEGER NOT NULL, approver_role TEXT,
    requested_at {real} NOT NULL, expires_at {real} NOT NULL,
    state TEXT NOT NULL CHECK (state IN ('pending', 'approved', 'denied', 'expired')),
    decided_at {real}, execution TEXT NOT NULL DEFAULT 'none' CHECK (execution IN ('none', 'claimed', 'done')),
    result TEXT{extra}
);
CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (approval_id), approver TEXT NOT NULL,
    approve {boolean} NOT NULL, comment TEXT NOT NULL, at {real} NOT NULL, PRIMARY KEY (approval_id, approver)
);
"""
OLD_ROW = (
    "INSERT INTO approvals (approval_id, binding, call_id, principal, connector, tool, arguments, arguments_digest,"
    " rule, policy_version, approvals_required, approver_role, requested_at, expires_at, state)"
    " VALUES ('apr_old', 'b', 'c', '{principal}', 'sap', 'transfer', '{{}}', 'd', NULL, 'v0', 1, 'approver',"
    " 1, 4102444800, 'pending')"
)


@pytest.fixture(params=["sqlite", "postgres"])
async def old_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    principal = json.dumps({"subject": "agent-0", "roles": [], "tenant": None, "issuer": AGENT.issuer})
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        with sqlite3.connect(path) as db:
            db.executescript(PREVIOUS.format(real="REAL", boolean="INTEGER", extra=""))
            db.execute(OLD_ROW.format(principal=principal))
        yield str(path)
        return
    async with postgres_backend() as backend:
        schema = backend.database.split("schema=")[1]
        conn = await asyncpg.connect(POSTGRES)
        try:
            await conn.execute(f'CREATE SCHEMA "{schema}"; SET search_path = "{schema}"')
            await conn.execute(PREVIOUS.format(real="DOUBLE PRECISION", boolean="BOOLEAN", extra=", claimed_by BIGINT"))
            await conn.execute(OLD_ROW.format(principal=principal))
        finally:
            await conn.close()
        yield backend.database


async def test_previous_tables_are_migrated_and_keep_their_approvals(old_database: str) -> None:
    settings = ApprovalSettings(database=old_database, default_ttl_seconds=60)
    for _ in range(2):  # a second opening finds nothing left to migrate
        service = await ApprovalService.open(settings, RecordingAudit())
        old = await service.get("apr_old")
        assert old.approval.state is ApprovalState.PENDING and old.approval.reason == ""
        call = make_call()
        opened = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
        await service.vote(opened.approval.approval_id, approver("alice"), True, "")
        assert (await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)).action == "execute"
        await service.supersede(opened.approval.approval_id, "superseded in a migrated table")
        stored = await service.get(opened.approval.approval_id)
        await service.close()
        assert stored.approval.state is ApprovalState.SUPERSEDED
        assert stored.approval.votes[0].issuer == AGENT.issuer
