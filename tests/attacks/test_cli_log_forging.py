"""Attack (#11 finding 6): an agent calls a tool whose name carries a newline, a forged
`approved-by=cfo` line and ANSI escapes (cursor up, erase line). `gateway audit search`
and `show` printed it as recorded, so the auditor's terminal showed a fake approved call
and hid the real line; the CEF export kept the raw ESC bytes. Every CLI field from outside
is now printed inert, and CEF escapes control characters."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import Result
from mcp import MCPError

from gateway.mcp.client import connect
from tests.support.cli import config_file, run_cli
from tests.support.gateway import RunningGateway

FORGED = "2026-11-30T09:00:00.000Z  cfo  sap.transfer  effect=allow status=ok approved-by=cfo"
# Cursor up, erase the line, then the forged line; a bidi override and a C1 CSI for good measure.
TOOL = f"echo.nope\x1b[1A\x1b[2K\r\n{FORGED}\u202e\x9b2J"
#: What a terminal would act on: C0 controls but newline (the CLI's own line ends), DEL, C1, bidi.
ACTIVE = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


async def _forge(gw: RunningGateway) -> None:
    async with connect(gw.mcp_url, gw.token("mallory", roles=("tester",))) as client:
        with pytest.raises(MCPError):
            await client.call_tool(TOOL, {"text": "hi"})


async def cli(gw: RunningGateway, *args: str) -> Result:
    return await run_cli(*args, env={"GATEWAY_CONFIG": str(config_file(gw))})


def _assert_inert(output: str) -> None:
    assert not ACTIVE.search(output), repr(output)
    assert not any(line.startswith(FORGED) for line in output.splitlines()), output


@pytest.mark.parametrize("command", [("audit", "search"), ("audit", "tail"), ("audit", "search", "--json")])
async def test_forged_tool_name_is_inert_in_audit_listings(
    echo_gateway: RunningGateway, command: tuple[str, ...]
) -> None:
    await _forge(echo_gateway)
    output = (await cli(echo_gateway, *command)).output
    _assert_inert(output)
    # Shown, not acted on: as the CLI's escape, or JSON's inside records' data.
    assert re.search(r"\\(x1b|u001b)\[1A", output) and "\\u202e" in output, output


async def test_forged_tool_name_is_inert_in_audit_show(echo_gateway: RunningGateway) -> None:
    await _forge(echo_gateway)
    call_id = json.loads((await cli(echo_gateway, "audit", "search", "--json")).output.splitlines()[0])["call_id"]
    _assert_inert((await cli(echo_gateway, "audit", "show", call_id)).output)


async def test_cef_export_escapes_control_characters(echo_gateway: RunningGateway, tmp_path: Path) -> None:
    await _forge(echo_gateway)
    out = tmp_path / "audit.cef"
    await cli(echo_gateway, "audit", "export", "--format", "cef", "--out", str(out))
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines and all(line.startswith("CEF:0|") for line in lines)
    _assert_inert("\n".join(lines))
    assert "cs2=nope\\\\x1b[1A\\\\x1b[2K\\n2026" in out.read_text(encoding="utf-8")


async def test_tool_output_cannot_drive_the_terminal(echo_gateway: RunningGateway) -> None:
    # `gateway call` prints what the backend answered: here an echo of escapes.
    token = echo_gateway.token("mallory", roles=("tester",))
    text = "line one\n\x1b]0;pwned\x07\x1b[2Jline two\u202e"
    env = {"GATEWAY_URL": echo_gateway.mcp_url, "GATEWAY_TOKEN": token}
    result = await run_cli("call", "echo.echo", "--args", json.dumps({"text": text}), env=env)
    _assert_inert(result.output)
    assert "line one\n\\x1b]0;pwned\\x07\\x1b[2Jline two\\u202e" in result.output


async def test_jsonl_export_is_safe_to_read_and_still_verifies(echo_gateway: RunningGateway, tmp_path: Path) -> None:
    await _forge(echo_gateway)
    out = tmp_path / "audit.jsonl"
    await cli(echo_gateway, "audit", "export", "--out", str(out))
    text = out.read_text(encoding="utf-8")
    _assert_inert(text)
    assert "\\u202e" in text
    verified = await cli(echo_gateway, "audit", "verify", "--file", str(out))
    assert verified.output.startswith("OK: ")
