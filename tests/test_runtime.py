"""The gateway is built complete by `Gateway.open`, started in order and stopped in the
reverse order by `close`; a part that fails to open undoes what was opened before it."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from starlette.applications import Starlette

from gateway.audit import read_records
from gateway.runtime import Gateway
from tests.support.gateway import gateway_config


async def test_open_then_close_records_start_and_stop_and_leaves_no_task(
    echo_upstream: tuple[str, Starlette], tmp_path: Path, policy_dir: Path
) -> None:
    url, _ = echo_upstream
    before = asyncio.all_tasks()
    config = gateway_config(tmp_path, policy_dir, {"echo": {"kind": "mcp", "url": url}}, policy={"watch": True})
    gateway = await Gateway.open(config)
    assert {s.name for s in await gateway.catalog.specs()} == {"echo", "add", "sleep"}
    await gateway.close()
    assert [r.kind for r in read_records(config.audit.database)] == ["gateway.started", "gateway.stopped"]
    assert asyncio.all_tasks() - before == {asyncio.current_task()} - before


async def test_a_store_that_cannot_open_undoes_what_opened_before_it(tmp_path: Path, policy_dir: Path) -> None:
    before = asyncio.all_tasks()
    # A directory is no database: the approval store fails after the audit log opened.
    config = gateway_config(tmp_path, policy_dir, {}, approvals={"database": str(tmp_path)})
    with pytest.raises(sqlite3.OperationalError, match="unable to open database file"):
        await Gateway.open(config)
    assert list(read_records(config.audit.database)) == []
    assert asyncio.all_tasks() - before == {asyncio.current_task()} - before
