from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gateway.audit import AuditLog, AuditUnavailable, read_records
from gateway.audit.sqlite_store import SqliteAuditStore
from gateway.config import AuditSettings
from tests.support.audit import cli, make_keys, settings


class TinyDiskStore(SqliteAuditStore):
    """The real SQLite store on a 'disk' that fills up: SQLite's max_page_count makes
    every write past the limit fail with SQLITE_FULL, exactly as a full disk does."""

    async def open(self):
        head = await super().open()
        async with self._writer.execute("PRAGMA page_count") as cursor:
            (pages,) = await cursor.fetchone()
        await self._writer.execute(f"PRAGMA max_page_count = {pages + 8}")
        return head

    async def free_space(self) -> None:
        await self._writer.execute("PRAGMA max_page_count = 1000000")


async def _hammer(log: AuditLog, writers: int, each: int) -> tuple[list, list[BaseException]]:
    async def writer(w: int) -> list:
        outcomes = []
        for i in range(each):
            try:
                outcomes.append(await log.append("call.received", {"pad": "x" * 400, "w": w, "i": i}, f"c{w}-{i}"))
            except AuditUnavailable as exc:
                outcomes.append(exc)
        return outcomes

    results = [o for per_writer in await asyncio.gather(*(writer(w) for w in range(writers))) for o in per_writer]
    return [r for r in results if not isinstance(r, BaseException)], [
        r for r in results if isinstance(r, BaseException)
    ]


async def test_a_full_disk_refuses_appends_and_loses_no_acknowledged_record(tmp_path: Path) -> None:
    private, public = make_keys(tmp_path)
    store = TinyDiskStore(tmp_path / "audit.db")
    log = await AuditLog.open(settings(tmp_path, private, every=50), store=store)
    acked, failed = await _hammer(log, writers=16, each=40)
    assert acked and failed, "the disk should fill part way through"
    assert all("database or disk is full" in str(exc) for exc in failed)
    assert not await log.healthy()

    await store.free_space()
    after = await log.append("gateway.stopped", {"version": "t"})
    assert await log.healthy()
    await log.close()

    stored = {r.seq: r for r in read_records(store.path)}
    assert all(stored[r.seq] == r for r in acked)
    assert after.seq == len(acked) + 1 == len(stored)
    result = cli("verify", "--db", store.path, "--public-key", public)
    assert result.exit_code == 0, result.output


async def test_a_locked_store_refuses_appends_then_recovers(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    log = await AuditLog.open(AuditSettings(database=str(db), busy_timeout_seconds=0.2))
    first = await log.append("gateway.started", {})
    blocker = sqlite3.connect(db, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")  # another process holds the database
    try:
        started = time.monotonic()
        with pytest.raises(AuditUnavailable, match="database is locked"):
            await log.append("call.received", {"tool": "t"}, call_id="c1")
        assert time.monotonic() - started < 5
        assert not await log.healthy()
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    second = await log.append("call.received", {"tool": "t"}, call_id="c1")
    await log.close()
    assert second.seq == 2 and second.prev_hash == first.hash
    assert [r.seq for r in read_records(db)] == [1, 2]


async def test_a_vanished_store_fails_every_waiting_append(tmp_path: Path) -> None:
    log = await AuditLog.open(AuditSettings(database=str(tmp_path / "audit.db")))
    await log.append("gateway.started", {})
    await log.store.close()  # the connection is gone, as after a crash of the database
    outcomes = await asyncio.gather(*(log.append("call.received", {"i": i}) for i in range(10)), return_exceptions=True)
    assert all(isinstance(o, AuditUnavailable) for o in outcomes)
    assert not await log.healthy()
    await log.close()


_CHILD = """
import asyncio, sys
from gateway.audit import AuditLog
from gateway.config import AuditSettings

async def main():
    log = await AuditLog.open(AuditSettings(database=sys.argv[1], signing_key_file=sys.argv[2],
                                            checkpoint_every_records=100))
    async def writer(w):
        for i in range(5000):
            r = await log.append("call.received", {"pad": "x" * 300, "w": w, "i": i}, call_id=f"c{w}-{i}")
            sys.stdout.write(f"{r.seq} {r.hash}\\n")
            sys.stdout.flush()
    await asyncio.gather(*(writer(w) for w in range(16)))

asyncio.run(main())
"""


def test_a_process_killed_during_appends_keeps_every_acknowledged_record(tmp_path: Path) -> None:
    private, public = make_keys(tmp_path)
    db = tmp_path / "audit.db"
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(db), str(private)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    acknowledged: dict[int, str] = {}
    try:
        deadline = time.monotonic() + 30
        while len(acknowledged) < 1500 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            seq, record_hash = line.split()
            acknowledged[int(seq)] = record_hash
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
        child.stdout.close()
    assert len(acknowledged) >= 1500, "the child should have acknowledged records before being killed"

    stored = {r.seq: r.hash for r in read_records(db)}
    assert all(stored.get(seq) == h for seq, h in acknowledged.items())
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 0, result.output

    async def resume() -> None:
        log = await AuditLog.open(settings(tmp_path, private))
        record = await log.append("gateway.started", {"after": "crash"})
        await log.close()
        assert record.seq == len(stored) + 1

    asyncio.run(resume())
    assert cli("verify", "--db", db, "--public-key", public).exit_code == 0
