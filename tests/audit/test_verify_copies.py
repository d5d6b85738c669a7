"""`gateway audit verify` on what an auditor is handed: a copy of a running gateway's
database without its -wal file must not verify as `OK: 0 records` (#18)."""

from __future__ import annotations

import shutil
from pathlib import Path

from gateway.mcp.client import connect
from tests.support.audit import cli
from tests.support.gateway import RunningGateway


async def _calls(gw: RunningGateway, count: int) -> None:
    async with connect(gw.mcp_url, gw.token()) as client:
        for i in range(count):
            assert not (await client.call_tool("echo.echo", {"text": f"hi {i}"})).is_error


async def test_a_copy_without_its_wal_file_does_not_verify(echo_gateway: RunningGateway, tmp_path: Path) -> None:
    await _calls(echo_gateway, 3)
    copy = tmp_path / "copy" / "audit.db"
    copy.parent.mkdir()
    shutil.copyfile(echo_gateway.config.audit.database, copy)  # the -wal file left behind
    result = cli("verify", "--db", copy)
    assert result.exit_code == 1, result.output
    assert not result.output.startswith("OK")
    assert "no audit.db-wal beside audit.db" in result.output, result.output


async def test_the_copy_with_its_wal_file_verifies(echo_gateway: RunningGateway, tmp_path: Path) -> None:
    await _calls(echo_gateway, 3)
    source = Path(echo_gateway.config.audit.database)
    copy = tmp_path / "copy" / "audit.db"
    copy.parent.mkdir()
    for suffix in ("", "-wal"):
        shutil.copyfile(f"{source}{suffix}", f"{copy}{suffix}")
    result = cli("verify", "--db", copy)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 13 records")
    assert "-wal" not in result.output


def test_an_empty_log_fails(tmp_path: Path) -> None:
    export = tmp_path / "empty.jsonl"
    export.write_text("")
    result = cli("verify", "--file", export)
    assert result.exit_code == 1
    assert result.output.startswith("FAILED: 0 records")
    assert "the log is empty: a gateway records gateway.started first" in result.output
