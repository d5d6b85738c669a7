"""The audit CLI on a PostgreSQL log: the same verify, export and queries as on SQLite."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from tests.support.audit import cli, make_keys, write_calls
from tests.support.stores import Backend, postgres_backend


@pytest.fixture
async def pg_log(tmp_path: Path) -> AsyncIterator[tuple[Backend, Path]]:
    private, public = make_keys(tmp_path)
    async with postgres_backend() as backend:
        log = await AuditLog.open(
            backend.settings(signing_key_file=str(private), checkpoint_every_records=5, checkpoint_every_seconds=3600)
        )
        try:
            await write_calls(log, 6)  # 23 records, checkpoints at 5, 10, 15, 20 and 23 (on close)
        finally:
            await log.close()
        yield backend, public


async def _cli(*args: str | Path):
    # The CLI runs its own event loop: give it a thread.
    return await asyncio.to_thread(cli, *args)


async def test_a_postgres_log_verifies_exports_and_answers_queries(pg_log, tmp_path: Path) -> None:
    backend, public = pg_log
    result = await _cli("verify", "--db", backend.database, "--public-key", public)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 23 records, 5 checkpoints, signed up to 23")

    out = tmp_path / "pg.jsonl"
    assert (await _cli("export", "--db", backend.database, "--out", out)).exit_code == 0
    offline = await _cli("verify", "--file", out, "--public-key", public)
    assert offline.exit_code == 0, offline.output

    found = await _cli("search", "--db", backend.database, "--agent", "agent-x", "--outcome", "deny", "--json")
    assert [json.loads(line)["call_id"] for line in found.output.splitlines()] == ["call-4"]
    story = await _cli("show", f"{4:032x}", "--db", backend.database)
    assert "call.rejected" in story.output
    newest = await _cli("search", "--db", backend.database, "--newest-first", "--limit", "2", "--json")
    assert [json.loads(line)["call_id"] for line in newest.output.splitlines()] == ["call-5", "call-4"]
    by_id = await _cli("search", "--db", backend.database, "--call-id", "call-2", "--json")
    assert [json.loads(line)["call_id"] for line in by_id.output.splitlines()] == ["call-2"]
    assert "call.rejected" in (await _cli("show", "call-4", "--db", backend.database)).output


async def test_an_edit_behind_the_postgres_guards_is_named(pg_log) -> None:
    backend, public = pg_log
    await backend.raw(
        "ALTER TABLE audit_records DISABLE TRIGGER USER; "
        "UPDATE audit_records SET body = replace(body, 'C-3', 'C-9') WHERE seq = 13; "
        "ALTER TABLE audit_records ENABLE TRIGGER USER"
    )
    result = await _cli("verify", "--db", backend.database, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 13" in result.output
    assert "record 13 was altered" in result.output


async def test_show_by_approval_id_on_postgres(pg_log) -> None:
    backend, _ = pg_log
    log = await AuditLog.open(backend.settings())
    try:
        await log.append("approval.voted", {"approval_id": "apr_1", "approver": "bob", "approve": True}, "call-1")
        await log.append("call.forwarded", {"approval_id": "apr_1", "connector": "sap", "tool": "t"}, "retry-1")
    finally:
        await log.close()
    story = await _cli("show", "apr_1", "--db", backend.database, "--json")
    assert [json.loads(line)["call_id"] for line in story.output.splitlines()] == ["call-1", "retry-1"]
