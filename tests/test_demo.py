"""`make demo` in miniature: `gateway demo` on the shipped example config starts every stub
and the gateway, and the token and commands it prints work as printed."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from gateway.mcp.client import connect
from gateway.serving import free_port
from tests.support.gateway import REPO


async def test_demo_prints_a_working_endpoint_and_token(tmp_path: Path) -> None:
    port = free_port()
    key, database = tmp_path / "audit.pem", tmp_path / "demo-audit.db"
    assert (await _gateway("audit", "keygen", "--out", str(key))).returncode == 0
    env = {
        **os.environ,
        "GATEWAY_AUDIT__DATABASE": str(database),
        "GATEWAY_AUDIT__SIGNING_KEY_FILE": str(key),
        "PYTHONUNBUFFERED": "1",
        # A held call answers "pending" at once instead of waiting for an approver.
        "GATEWAY_APPROVALS__MAX_HOLD_SECONDS": "0.2",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "demo",
        "--config",
        str(REPO / "gateway.example.yaml"),
        "--port",
        str(port),
        cwd=str(tmp_path),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    printed: list[str] = []
    try:
        async with asyncio.timeout(60):
            while not any("Stop with Ctrl-C" in line for line in printed):
                line = (await process.stdout.readline()).decode()
                assert line, "demo exited early:\n" + "".join(printed)
                printed.append(line)
        banner = "".join(printed)
        for name in ("sap", "oracle", "mainframe", "helpdesk", "echo"):
            assert f"stub backend for '{name}'" in banner
        url = re.search(r"export GATEWAY_URL=(\S+)", banner).group(1)  # type: ignore[union-attr]
        token = re.search(r"export GATEWAY_TOKEN=(\S+)", banner).group(1)  # type: ignore[union-attr]
        assert url == f"http://127.0.0.1:{port}/mcp"
        async with connect(url, token) as client:
            tools = {t.name for t in (await client.list_tools()).tools}
            found = await client.call_tool("sap.search_purchase_orders", {"vendor_id": "0000100001"})
            held = await client.call_tool(
                "sap.create_purchase_order",
                {"vendor_id": "0000100001", "amount": 25000, "currency": "EUR", "description": "Forklift"},
            )
        assert {"sap.create_purchase_order", "oracle.search_orders", "mainframe.account_inquiry", "echo.echo"} <= tools
        assert not found.is_error and "4500000001" in found.content[0].text
        assert held.is_error and "finance-approver" in held.content[0].text
    finally:
        process.terminate()
        await asyncio.wait_for(process.wait(), 20)
    assert process.returncode == 0
    # What the demo wrote verifies offline against the public key alone.
    verified = await _gateway("audit", "verify", "--db", str(database), "--public-key", f"{key}.pub")
    assert verified.returncode == 0, verified.stdout


async def _gateway(*argv: str) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        *argv,
        cwd=str(REPO),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 60)
    return subprocess.CompletedProcess(argv, process.returncode or 0, out.decode())
