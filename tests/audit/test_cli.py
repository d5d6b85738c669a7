from __future__ import annotations

import asyncio
import json
import stat
from pathlib import Path

import pytest

from gateway.audit import AuditLog
from gateway.audit.checkpoint import load_private_key, load_public_key
from tests.support.audit import build_log, cli, settings


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = build_log(tmp_path, None, calls=6)

    async def approval() -> None:
        log = await AuditLog.open(settings(tmp_path, None))
        try:
            await log.append(
                "call.received",
                {"principal": {"subject": "agent-x"}, "connector": "sap", "tool": "post_invoice", "trace_id": "t-held"},
                call_id="held",
            )
            await log.append("call.decided", {"effect": "approve", "approver_role": "finance"}, call_id="held")
            for who in ("bob", "carol"):
                vote = {"approval_id": "a1", "approver": who, "approve": True, "comment": "ok"}
                await log.append("approval.voted", vote, call_id="held")
            await log.append("call.completed", {"status": "ok", "latency_ms": 3.0}, call_id="held")
        finally:
            await log.close()

    asyncio.run(approval())
    return path


def _json_lines(output: str) -> list[dict]:
    return [json.loads(line) for line in output.splitlines()]


def test_keygen_writes_a_private_key_only_its_owner_reads(tmp_path: Path) -> None:
    out = tmp_path / "keys" / "audit.pem"
    result = cli("keygen", "--out", out)
    assert result.exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    private, public = load_private_key(out), load_public_key(Path(f"{out}.pub"))
    assert private.public_key() == public
    again = cli("keygen", "--out", out)
    assert again.exit_code == 1
    assert "exists; pass --force" in again.output
    assert cli("keygen", "--out", out, "--force").exit_code == 0
    assert load_private_key(out) != private


def test_tail_prints_the_newest_records(db: Path) -> None:
    result = cli("tail", "-n", "2", "--db", db, "--json")
    assert result.exit_code == 0
    assert [(r["seq"], r["kind"]) for r in _json_lines(result.output)] == [
        (27, "approval.voted"),
        (28, "call.completed"),
    ]
    human = cli("tail", "-n", "1", "--db", db).output
    assert human.startswith("#28  ") and "call.completed  call=held" in human


@pytest.mark.parametrize(
    ("filters", "calls"),
    [
        ((), ["call-0", "call-1", "call-2", "call-3", "call-4", "call-5", "held"]),
        (("--agent", "agent-x"), ["call-0", "call-2", "call-4", "held"]),
        (("--connector", "oracle"), ["call-0", "call-3"]),
        (("--agent", "agent-x", "--connector", "sap", "--tool", "search_orders"), ["call-2", "call-4"]),
        (("--outcome", "deny"), ["call-4"]),
        (("--outcome", "rejected"), ["call-4"]),
        (("--outcome", "approve"), ["held"]),
        (("--approver", "carol"), ["held"]),
        (("--trace-id", f"{3:032x}"), ["call-3"]),
        (("--call-id", "call-3"), ["call-3"]),
        (("--newest-first", "--limit", "3"), ["held", "call-5", "call-4"]),
        (("--newest-first", "--agent", "agent-y"), ["call-5", "call-3", "call-1"]),
        (("--since", "2000-01-01", "--until", "2000-01-02"), []),
        (("--since", "2000-01-01T00:00:00Z", "--limit", "2"), ["call-0", "call-1"]),
    ],
)
def test_search_filters_calls(db: Path, filters: tuple[str, ...], calls: list[str]) -> None:
    result = cli("search", *filters, "--db", db, "--json")
    assert result.exit_code == 0, result.output
    assert [c["call_id"] for c in _json_lines(result.output)] == calls


def test_search_summarises_who_approved(db: Path) -> None:
    [held] = _json_lines(cli("search", "--approver", "bob", "--db", db, "--json").output)
    assert held == {
        "call_id": "held",
        "seq": 24,
        "ts": held["ts"],
        "trace_id": "t-held",
        "agent": "agent-x",
        "connector": "sap",
        "tool": "post_invoice",
        "effect": "approve",
        "status": "ok",
        "approvers": ["bob", "carol"],
        "approval_id": "a1",
    }
    line = cli("search", "--approver", "bob", "--db", db).output
    assert "agent-x  sap.post_invoice  effect=approve status=ok approved-by=bob,carol  trace=t-held" in line


def test_a_bad_time_gets_a_precise_error(db: Path) -> None:
    result = cli("search", "--since", "last tuesday", "--db", db)
    assert result.exit_code == 2
    assert "'last tuesday' is neither ISO 8601" in result.output


def test_show_tells_the_whole_story_of_one_call(db: Path) -> None:
    result = cli("show", "t-held", "--db", db)
    assert result.exit_code == 0
    kinds = [line.split("  ")[2] for line in result.output.splitlines()[1:]]
    assert kinds == ["call.received", "call.decided", "approval.voted", "approval.voted", "call.completed"]
    [story] = _json_lines(cli("show", "t-held", "--db", db, "--json").output)
    assert [r["seq"] for r in story["records"]] == [24, 25, 26, 27, 28]
    missing = cli("show", "no-such-trace", "--db", db)
    assert missing.exit_code == 1
    assert "no call with call id, trace id or approval id no-such-trace" in missing.output


def test_export_cef_has_one_line_per_record(db: Path) -> None:
    result = cli("export", "--format", "cef", "--db", db)
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert len(lines) == 28
    assert lines[0].startswith("CEF:0|agent-gateway|agent-governance-gateway|0.1.0|call.received|call received|3|")
    assert "suser=agent-x" in lines[0] and "cs1Label=connector cs1=oracle" in lines[0]
    denied = next(line for line in lines if "|call.decided|" in line and "act=deny" in line)
    assert "|5|" in denied


def test_cef_escapes_separators() -> None:
    from gateway.audit.export import cef
    from gateway.models import AuditRecord

    record = AuditRecord(1, 0.0, "auth.failed", None, {"reason": "bad a=b\\c\nnext", "client": "1.2.3.4"}, "0", "h")
    line = cef(record)
    assert "msg=bad a\\=b\\\\c\\nnext" in line
    assert "|7|" in line


def test_the_config_names_the_database(db: Path, tmp_path: Path) -> None:
    config = tmp_path / "gateway.yaml"
    config.write_text(f"identity: {{secret: {'s' * 32}, algorithms: [HS256]}}\naudit: {{database: {db.name}}}\n")
    result = cli("tail", "-n", "1", "--config", config, "--json")
    assert result.exit_code == 0, result.output
    assert _json_lines(result.output)[0]["seq"] == 28


def test_a_missing_database_is_named(tmp_path: Path) -> None:
    for command in (("tail",), ("verify",), ("export",), ("search",), ("prove", "1")):
        result = cli(*command, "--db", tmp_path / "nope.db")
        assert result.exit_code == 1, command
        assert f"no audit database at {tmp_path / 'nope.db'}" in result.output
    assert not (tmp_path / "nope.db").exists()


def test_a_garbled_record_gets_a_precise_error(db: Path) -> None:
    from tests.support.audit import tamper

    tamper(db, """UPDATE audit_records SET body = '{"x": 1}' WHERE seq = 28""")
    result = cli("tail", "-n", "1", "--db", db)
    assert result.exit_code == 1
    assert "not an audit record" in result.output
