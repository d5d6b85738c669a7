"""The PostgreSQL role docs/deploy.md prescribes is enough: a role that is not a superuser,
may not create anything in the database, and owns only the gateway's schema runs the audit
log and the approvals store, and still cannot rewrite a record."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from gateway.approvals import ApprovalService
from gateway.audit import AuditLog
from gateway.config import ApprovalSettings, AuditSettings
from tests.support.gateway import require_service
from tests.support.stores import POSTGRES, postgres_reachable


@pytest.fixture
async def least_privileged_url() -> AsyncIterator[str]:
    require_service("PostgreSQL", await postgres_reachable())
    schema = f"gw_priv_{uuid.uuid4().hex[:8]}"
    role = f"{schema}_role"
    admin = await asyncpg.connect(POSTGRES)
    # As in docs/deploy.md: NOLOGIN roles aside, exactly these two statements.
    await admin.execute(f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
    await admin.execute(f"CREATE SCHEMA {schema} AUTHORIZATION {role}")
    try:
        assert not await admin.fetchval("SELECT has_database_privilege($1, current_database(), 'CREATE')", role)
        yield f"postgresql://{role}@127.0.0.1:5432/test?schema={schema}"
    finally:
        await admin.execute(f"DROP SCHEMA {schema} CASCADE")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()


async def test_a_role_owning_only_its_schema_runs_both_stores(least_privileged_url: str) -> None:
    log = await AuditLog.open(AuditSettings(database=least_privileged_url))
    try:
        approvals = await ApprovalService.open(ApprovalSettings(database=least_privileged_url), log)
        await approvals.close()
        first = await log.append("gateway.started", {})
        second = await log.append("call.received", {"tool": "t"}, call_id="c1")
        assert (first.seq, second.prev_hash) == (1, first.hash)
    finally:
        await log.close()
    # Opened a second time (a restart, another replica), nothing needs creating any more.
    again = await AuditLog.open(AuditSettings(database=least_privileged_url))
    await again.close()
    conn = await asyncpg.connect(least_privileged_url.split("?")[0], server_settings={"search_path": "public"})
    try:
        schema = least_privileged_url.rsplit("schema=", 1)[1]
        with pytest.raises(asyncpg.PostgresError, match=r"audit (records|log)"):
            await conn.execute(f"UPDATE {schema}.audit_records SET body = replace(body, 'c1', 'c2') WHERE seq = 2")
    finally:
        await conn.close()
