"""Exports for people and SIEM tools: JSON Lines (verifiable offline) and ArcSight CEF.

A JSON Lines export holds every record as one object (the record's fields plus its
hash) and every checkpoint as `{"checkpoint": {...}}` right after the record it ends, so
`gateway audit verify --file` can check it exactly as it checks the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from gateway import __version__ as _version
from gateway.audit.chain import Sealed, body_of, parse
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.query import record_json
from gateway.models import AuditRecord
from gateway.untrusted import UNSAFE, json_escape_unsafe, visible


class ExportError(ValueError):
    """An export file that is not what `export --format jsonl` writes."""


def jsonl_line(item: Sealed | Checkpoint) -> str:
    """One line of the export; C1 and bidi characters as \\u escapes (the same JSON values,
    so it verifies the same), so that reading the file in a terminal is safe."""
    if isinstance(item, Checkpoint):
        return json_escape_unsafe(json.dumps({"checkpoint": item.to_json()}, ensure_ascii=False))
    return json_escape_unsafe(json.dumps(record_json(parse(item.body, item.hash)), ensure_ascii=False))


def cef_line(item: Sealed | Checkpoint) -> str | None:
    """CEF carries records only; checkpoints (None) stay in the log and jsonl exports."""
    return None if isinstance(item, Checkpoint) else cef(parse(item.body, item.hash))


def read_jsonl(path: Path) -> Iterator[Sealed | Checkpoint]:
    """An export back as verify's input; records are re-encoded canonically, so the
    file's own spacing and key order do not matter, only its values."""
    try:
        lines = path.open(encoding="utf-8")
    except OSError as exc:
        raise ExportError(f"cannot read export file {path}: {exc.strerror}") from None
    with lines:
        for number, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                raw = json.loads(line)
                if "checkpoint" in raw:
                    yield Checkpoint.from_json(raw["checkpoint"])
                    continue
                record = AuditRecord(
                    seq=int(raw["seq"]),
                    ts=raw["ts"],
                    kind=raw["kind"],
                    call_id=raw["call_id"],
                    data=raw["data"],
                    prev_hash=raw["prev_hash"],
                    hash=str(raw["hash"]),
                )
                yield Sealed(seq=record.seq, hash=record.hash, body=body_of(record))
            except (ValueError, KeyError, TypeError) as exc:
                raise ExportError(f"{path}, line {number}: not an audit export line ({exc})") from None
            except UnicodeDecodeError:
                raise ExportError(f"{path}, line {number}: not UTF-8") from None


_SEVERITY = {"call.rejected": 6, "auth.failed": 7, "policy.reload_failed": 7, "approval.expired": 5}


def _literal_escapes(text: str) -> str:
    # CEF defines no escape for other controls: `\\x1b` reads back as the text `\x1b`,
    # so a SIEM shows the character instead of a terminal or a parser acting on it.
    return UNSAFE.sub(lambda m: "\\" + visible(m.group()), text)


def _header_escape(value: object) -> str:
    return _literal_escapes(str(value).replace("\\", "\\\\").replace("|", "\\|"))


def _ext_escape(value: object) -> str:
    text = str(value).replace("\\", "\\\\").replace("=", "\\=")
    text = text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\r")
    return _literal_escapes(text)


def cef(record: AuditRecord) -> str:
    """One CEF:0 line; the full record stays in the log, CEF carries what SIEM rules key on."""
    data = record.data
    principal = data.get("principal") or {}
    severity = _SEVERITY.get(record.kind, 3)
    if data.get("effect") == "deny" or data.get("status") == "error":
        severity = max(severity, 5)
    extension: dict[str, object] = {
        "rt": int(record.ts * 1000),
        "externalId": record.seq,
        "suser": principal.get("subject"),
        "act": data.get("effect"),
        "outcome": data.get("status"),
        "src": data.get("client"),
        "msg": data.get("reason") or data.get("error"),
    }
    custom = (
        ("connector", data.get("connector")),
        ("tool", data.get("tool")),
        ("callId", record.call_id),
        ("traceId", data.get("trace_id")),
        ("recordHash", record.hash),
    )
    for n, (label, value) in enumerate(custom, 1):
        if value is not None:
            extension[f"cs{n}Label"], extension[f"cs{n}"] = label, value
    fields = " ".join(f"{k}={_ext_escape(v)}" for k, v in extension.items() if v is not None)
    name = record.kind.replace(".", " ")
    header = "|".join(
        _header_escape(v)
        for v in ("CEF:0", "agent-gateway", "agent-governance-gateway", _version, record.kind, name, severity)
    )
    return f"{header}|{fields}"
