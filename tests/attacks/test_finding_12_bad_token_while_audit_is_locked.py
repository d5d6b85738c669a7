"""Finding 12: a bad token while the audit store was locked got a 500 instead of a 401.
A refused token is answered 401 promptly whatever the store's state; its record is
written when the store is back within its busy timeout, or counted."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from gateway.audit import read_records
from tests.support.gateway import RunningGateway
from tests.support.ops import sample

FORGED = {"Authorization": "Bearer forged.token.value"}


@contextlib.contextmanager
def locked(database: str) -> Iterator[None]:
    """Another process holds the SQLite database (a backup, a long transaction)."""
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def _failures(gw: RunningGateway) -> int:
    return sum(1 for r in read_records(gw.config.audit.database) if r.kind == "auth.failed")


async def test_a_bad_token_is_a_prompt_401_and_counted_while_the_store_stays_locked(
    start_gateway, echo_upstream, tmp_path: Path
) -> None:
    url, _ = echo_upstream
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, audit={"busy_timeout_seconds": 0.3}) as gw:
        with locked(gw.config.audit.database):
            async with httpx.AsyncClient(base_url=gw.url) as http:
                started = time.monotonic()
                answers = [
                    await http.post("/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"}, headers=FORGED),
                    await http.get("/v1/tools", headers=FORGED),
                    await http.get("/v1/audit/calls", headers=FORGED),
                ]
                elapsed = time.monotonic() - started
            assert [a.status_code for a in answers] == [401, 401, 401]
            assert elapsed < 3
            await asyncio.sleep(0.5)  # past the busy timeout: the records are given up
        text = await gw.scrape()
    assert sample(text, "gateway_audit_records_lost_total", kind="auth.failed") == 3
    assert sample(text, "gateway_rejected_requests_total", reason="unauthenticated") == 3


async def test_the_record_is_written_when_the_store_is_back_in_time(start_gateway, echo_upstream) -> None:
    url, _ = echo_upstream
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, audit={"busy_timeout_seconds": 5}) as gw:
        before = _failures(gw)
        with locked(gw.config.audit.database):
            async with httpx.AsyncClient(base_url=gw.url) as http:
                started = time.monotonic()
                answer = await http.get("/v1/tools", headers=FORGED)
                assert answer.status_code == 401 and time.monotonic() - started < 2
            await asyncio.sleep(0.5)
        for _ in range(100):
            if _failures(gw) > before:
                break
            await asyncio.sleep(0.05)
        assert _failures(gw) == before + 1
        assert sample(await gw.scrape(), "gateway_audit_records_lost_total", kind="auth.failed") in (None, 0)
