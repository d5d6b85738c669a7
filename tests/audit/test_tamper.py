from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path

import pytest

from gateway.audit.chain import GENESIS_HASH
from tests.support.audit import build_log, cli, make_keys, root_of, tamper


@pytest.fixture
def signed(tmp_path: Path) -> tuple[Path, Path]:
    private, public = make_keys(tmp_path)
    return build_log(tmp_path, private, calls=6), public  # 23 records, checkpoints at 5, 10, 15, 20, 23


def _body(db: Path, seq: int) -> str:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT body FROM audit_records WHERE seq = ?", (seq,)).fetchone()[0]


def _rechain_from(db: Path, seq: int, new_body: str) -> None:
    """Replace record `seq` and recompute every later hash, as a careful forger would."""
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT seq, body FROM audit_records WHERE seq >= ? ORDER BY seq", (seq,)).fetchall()
        prev = conn.execute("SELECT hash FROM audit_records WHERE seq = ?", (seq - 1,)).fetchone()
        prev_hash = prev[0] if prev else GENESIS_HASH
    statements = []
    for n, body in rows:
        fields = json.loads(new_body if n == seq else body)
        fields["prev_hash"] = prev_hash
        text = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        prev_hash = hashlib.sha256(text.encode()).hexdigest()
        statements.append(f"UPDATE audit_records SET body = '{text}', hash = '{prev_hash}' WHERE seq = {n}")
    tamper(db, *statements)


def test_an_untouched_log_verifies(signed: tuple[Path, Path]) -> None:
    db, public = signed
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 23 records, 5 checkpoints, signed up to 23")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET body = replace(body, 'C-1', 'C-9') WHERE seq = 5",
        "UPDATE audit_records SET seq = 99 WHERE seq = 23",
        "DELETE FROM audit_records WHERE seq = 5",
        "DELETE FROM audit_records",
        "INSERT OR REPLACE INTO audit_records SELECT seq, hash, body FROM audit_records WHERE seq = 5",
        "REPLACE INTO audit_records (seq, hash, body) VALUES (5, 'x', '{}')",
        "INSERT INTO audit_records (seq, hash, body) VALUES (5, 'x', '{}') ON CONFLICT (seq) DO UPDATE SET body = 'x'",
        "INSERT INTO audit_records (seq, hash, body) VALUES (40, 'x', '{}')",
        "UPDATE OR REPLACE audit_checkpoints SET body = '{}' WHERE size = 5",
        "DELETE FROM audit_checkpoints WHERE size = 5",
        "INSERT OR REPLACE INTO audit_checkpoints (size, body) VALUES (5, '{}')",
    ],
)
def test_stored_records_cannot_be_changed_by_any_statement(signed: tuple[Path, Path], statement: str) -> None:
    db, public = signed
    with sqlite3.connect(db) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(statement)
    assert cli("verify", "--db", db, "--public-key", public).exit_code == 0


def test_an_edited_field_is_named(signed: tuple[Path, Path]) -> None:
    db, public = signed
    tamper(db, 'UPDATE audit_records SET body = replace(body, \'"effect":"deny"\', \'"effect":"allow"\')')
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 18" in result.output  # call 4 is the first denied one
    assert "record 18 was altered" in result.output


def test_an_edit_with_every_hash_recomputed_is_caught_by_the_checkpoints(signed: tuple[Path, Path]) -> None:
    db, public = signed
    _rechain_from(db, 8, _body(db, 8).replace('"status":"ok"', '"status":"error"'))
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 6" in result.output  # records 6..10: the first span a genuine checkpoint disowns
    assert "records 6..10 were rewritten" in result.output


def test_an_edit_with_its_own_hash_recomputed_is_named(signed: tuple[Path, Path]) -> None:
    db, public = signed
    body = _body(db, 8).replace('"status":"ok"', '"status":"error"')
    tamper(
        db,
        f"UPDATE audit_records SET body = '{body}', hash = '{hashlib.sha256(body.encode()).hexdigest()}' WHERE seq = 8",
    )
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 8" in result.output
    assert "record 8 is not the record that record 9 was chained to" in result.output


def test_a_deleted_record_is_named(signed: tuple[Path, Path]) -> None:
    db, public = signed
    tamper(db, "DELETE FROM audit_records WHERE seq = 9")
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 9" in result.output
    assert "record 9 is missing" in result.output


def test_a_deleted_record_with_the_rest_renumbered_is_named(signed: tuple[Path, Path]) -> None:
    db, public = signed
    tamper(db, "DELETE FROM audit_records WHERE seq = 9", "UPDATE audit_records SET seq = seq - 1 WHERE seq > 9")
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 9" in result.output


def test_an_inserted_record_is_named(signed: tuple[Path, Path]) -> None:
    db, public = signed
    forged = json.loads(_body(db, 9))
    forged["data"] = {"status": "ok", "note": "forged"}
    forged_text = json.dumps(forged, sort_keys=True, separators=(",", ":"))
    tamper(
        db,
        "UPDATE audit_records SET seq = -seq WHERE seq >= 9",
        "UPDATE audit_records SET seq = 1 - seq WHERE seq < 0",
        f"INSERT INTO audit_records (seq, hash, body) VALUES "
        f"(9, '{hashlib.sha256(forged_text.encode()).hexdigest()}', '{forged_text}')",
    )
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 9" in result.output


def test_two_swapped_records_are_named(signed: tuple[Path, Path]) -> None:
    db, public = signed
    tamper(
        db,
        "UPDATE audit_records SET seq = -1 WHERE seq = 6",
        "UPDATE audit_records SET seq = 6 WHERE seq = 13",
        "UPDATE audit_records SET seq = 13 WHERE seq = -1",
    )
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 6" in result.output
    assert "record 6 holds the record written as number 13" in result.output


def test_a_log_cut_short_below_its_checkpoints_is_caught(signed: tuple[Path, Path]) -> None:
    db, public = signed
    tamper(db, "DELETE FROM audit_records WHERE seq > 17")
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 18" in result.output
    assert "log cut short: checkpoint 20 is signed but the log ends at record 17" in result.output


def test_a_tail_cut_with_its_checkpoints_leaves_only_an_unsigned_warning(signed: tuple[Path, Path]) -> None:
    """The limit of any self-contained log: records after the last surviving checkpoint can be cut
    unnoticed; keep the latest checkpoint elsewhere (docs/audit.md) to catch that."""
    db, public = signed
    tamper(db, "DELETE FROM audit_records WHERE seq > 17", "DELETE FROM audit_checkpoints WHERE size > 15")
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 0
    assert "warning: records 16..17 are not yet covered by a signed checkpoint" in result.output


def test_a_checkpoint_forged_with_another_key_is_caught(signed: tuple[Path, Path], tmp_path: Path) -> None:
    from gateway.audit.checkpoint import Checkpoint, load_private_key, sign

    db, public = signed
    forger, _ = make_keys(tmp_path, "forger.pem")
    _rechain_from(db, 12, _body(db, 12).replace("agent-y", "agent-z"))
    with sqlite3.connect(db) as conn:
        checkpoints = [Checkpoint.decode(b.encode()) for (b,) in conn.execute("SELECT body FROM audit_checkpoints")]
        hashes = [bytes.fromhex(h) for (h,) in conn.execute("SELECT hash FROM audit_records ORDER BY seq")]
    key = load_private_key(forger)
    statements = ["DELETE FROM audit_checkpoints WHERE size > 10"]
    for cp in checkpoints:
        if cp.size > 10:
            forged = sign(key, cp.origin, cp.size, hashes[cp.size - 1].hex(), root_of(hashes[: cp.size]).hex(), cp.ts)
            statements.append(f"INSERT INTO audit_checkpoints VALUES ({cp.size}, '{forged.encode().decode()}', NULL)")
    tamper(db, *statements)
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "first bad record: 11" in result.output
    assert "checkpoint 15 was signed by key" in result.output


def test_dropped_guards_are_reported(signed: tuple[Path, Path]) -> None:
    db, public = signed
    tamper(db, keep_guards_dropped=True)
    result = cli("verify", "--db", db, "--public-key", public)
    assert result.exit_code == 1
    assert "store schema: trigger audit_records_no_update is missing" in result.output


def test_checkpoints_need_a_public_key(signed: tuple[Path, Path]) -> None:
    db, _ = signed
    result = cli("verify", "--db", db)
    assert result.exit_code == 1
    assert "signatures not checked: no public key given" in result.output


def test_a_log_without_a_signing_key_verifies_its_chain(tmp_path: Path) -> None:
    db = build_log(tmp_path, None, calls=2)
    result = cli("verify", "--db", db)
    assert result.exit_code == 0
    assert "warning: no signed checkpoints" in result.output


def _export(db: Path, tmp_path: Path) -> Path:
    out = tmp_path / "export.jsonl"
    assert cli("export", "--db", db, "--format", "jsonl", "--out", out).exit_code == 0
    return out


def test_an_export_verifies_offline(signed: tuple[Path, Path], tmp_path: Path) -> None:
    db, public = signed
    result = cli("verify", "--file", _export(db, tmp_path), "--public-key", public)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK: 23 records, 5 checkpoints, signed up to 23")


def _line(lines: list[str], seq: int) -> int:
    return next(i for i, line in enumerate(lines) if json.loads(line).get("seq") == seq)


def _swap(lines: list[str], a: int, b: int) -> None:
    lines[a], lines[b] = lines[b], lines[a]


@pytest.mark.parametrize(
    ("edit", "first_bad"),
    [
        (lambda lines: lines.__setitem__(_line(lines, 5), lines[_line(lines, 5)].replace("C-1", "C-7")), 5),
        (lambda lines: lines.pop(_line(lines, 8)), 8),
        (lambda lines: lines.insert(_line(lines, 3), lines[_line(lines, 7)]), 3),
        (lambda lines: _swap(lines, _line(lines, 2), _line(lines, 12)), 2),
    ],
    ids=["edited", "deleted", "inserted", "swapped"],
)
def test_edits_to_an_export_are_named(signed: tuple[Path, Path], tmp_path: Path, edit, first_bad: int) -> None:
    db, public = signed
    path = _export(db, tmp_path)
    lines = path.read_text().splitlines()
    edit(lines)
    path.write_text("\n".join(lines) + "\n")
    result = cli("verify", "--file", path, "--public-key", public)
    assert result.exit_code == 1, result.output
    assert f"first bad record: {first_bad}" in result.output


def test_a_truncated_export_is_caught_by_a_checkpoint_kept_elsewhere(signed: tuple[Path, Path], tmp_path: Path) -> None:
    db, public = signed
    latest = tmp_path / "latest-checkpoint.json"
    result = cli("checkpoint", "--db", db)
    assert result.exit_code == 0
    latest.write_text(result.output)
    path = _export(db, tmp_path)
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[: _line(lines, 12)]) + "\n")  # cut the file after record 11
    # Alone, the cut file looks like a shorter log...
    assert cli("verify", "--file", path, "--public-key", public).exit_code == 0
    # ...the checkpoint the auditor kept proves records are missing.
    result = cli("verify", "--file", path, "--public-key", public, "--checkpoint", latest)
    assert result.exit_code == 1
    assert "first bad record: 12" in result.output
    assert "log cut short: checkpoint 23 is signed but the log ends at record 11" in result.output


def test_a_garbled_export_gets_a_precise_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"seq": 1}\n')
    result = cli("verify", "--file", path)
    assert result.exit_code == 1
    assert "line 1: not an audit export line" in result.output
