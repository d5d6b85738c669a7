from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import rfc8785

from gateway.audit import AuditLog, read_records
from gateway.audit.redaction import REDACTED, Redactor
from gateway.config import AuditSettings, ConfigError, parse_config

DEFAULTS = AuditSettings()


def _redactor(**overrides) -> Redactor:
    settings = AuditSettings(**overrides)
    return Redactor(settings.redact_keys, settings.redact_patterns, card_numbers=settings.redact_card_numbers)


def test_sensitive_keys_are_replaced_at_any_depth_whatever_their_spelling() -> None:
    original = {
        "user": "alice",
        "Password": "hunter2",
        "auth": {"API-Key": "k-123", "nested": [{"access_token": "t"}, {"keep": 1}]},
        "SSN": 123456789,
    }
    redacted, _ = _redactor().redact(original)
    assert redacted == {
        "user": "alice",
        "Password": REDACTED,
        "auth": {"API-Key": REDACTED, "nested": [{"access_token": REDACTED}, {"keep": 1}]},
        "SSN": REDACTED,
    }
    assert original["Password"] == "hunter2"  # the caller's arguments are untouched


def test_patterns_replace_matches_inside_text() -> None:
    redacted, _ = _redactor().redact({"note": "customer 078-05-1120 called", "id": "2024-11-26"})
    assert redacted == {"note": f"customer {REDACTED} called", "id": "2024-11-26"}


def test_card_numbers_are_replaced_only_when_the_luhn_check_passes() -> None:
    text = "paid with 4111 1111 1111 1111, order 4111111111111112, card 5500-0000-0000-0004"
    redacted, _ = _redactor().redact({"memo": text, "pan": 4111111111111111, "order_no": 4111111111111112})
    assert redacted["memo"] == f"paid with {REDACTED}, order 4111111111111112, card {REDACTED}"
    assert redacted["pan"] == REDACTED
    assert redacted["order_no"] == 4111111111111112
    unredacted, _ = _redactor(redact_card_numbers=False).redact({"memo": text})
    assert unredacted["memo"] == text


def test_digit_runs_inside_hex_ids_and_tokens_are_not_card_numbers() -> None:
    # Seen in a real audit log: a Luhn-valid run inside an idempotency key was redacted.
    ids = {
        "key": "k9-ade4111111111111111e6d2a82a64a3",
        "trace": "4111111111111111ab",
        "file": "scan_4111111111111111.pdf",
        "ref": "PO-4111111111111111",
    }
    redacted, _ = _redactor().redact(ids)
    assert redacted == ids
    alone, _ = _redactor().redact({"memo": "card: 4111111111111111.", "quoted": '"4111 1111 1111 1111"'})
    assert alone == {"memo": f"card: {REDACTED}.", "quoted": f'"{REDACTED}"'}


def test_configured_keys_and_patterns_replace_the_defaults() -> None:
    redactor = _redactor(redact_keys=("iban",), redact_patterns=(r"EMP-\d+",))
    redacted, _ = redactor.redact({"iban": "DE89", "password": "p", "who": "EMP-42 and EMP-7"})
    assert redacted == {"iban": REDACTED, "password": "p", "who": f"{REDACTED} and {REDACTED}"}


def test_digest_lets_an_auditor_check_the_original_values() -> None:
    original = {"user": "alice", "password": "hunter2", "amount": 12.5}
    redacted, digest = _redactor().redact(original)
    assert digest == hashlib.sha256(rfc8785.dumps(original)).hexdigest()
    # A claimed original with a different secret does not match the digest.
    forged = dict(original, password="letmein")
    assert hashlib.sha256(rfc8785.dumps(forged)).hexdigest() != digest
    assert redacted["password"] == REDACTED


async def test_the_stored_record_holds_no_secret(tmp_path: Path) -> None:
    db = tmp_path / "audit.db"
    log = await AuditLog.open(AuditSettings(database=str(db)))
    try:
        arguments, digest = log.redact({"password": "hunter2", "memo": "ssn 078-05-1120"})
        await log.append("call.received", {"arguments": arguments, "arguments_digest": digest}, call_id="c1")
    finally:
        await log.close()
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir())  # the database and any WAL left
    assert b"hunter2" not in raw and b"078-05-1120" not in raw
    [record] = read_records(db)
    assert record.data["arguments"] == {"password": REDACTED, "memo": f"ssn {REDACTED}"}


def test_a_bad_pattern_in_the_config_names_the_key() -> None:
    with pytest.raises(ConfigError, match=r"audit\.redact_patterns\.1: invalid regular expression"):
        raw = {"identity": {"secret": "${env:S}"}, "audit": {"redact_patterns": ["ok", "("]}}
        parse_config(raw, base_dir=Path("."), environ={"S": "s" * 32})
