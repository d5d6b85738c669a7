"""How an audit record looks to a SIEM: the JSON event, the CEF line, and the RFC 5424
syslog message framed with octet counting (RFC 6587). docs/audit.md lists every field."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from gateway import __version__
from gateway.models import AuditRecord

#: Private enterprise number 32473 is the one RFC 5612 reserves for documentation and
#: examples; the SD-ID says the parameters are the gateway's own.
SD_ID = "gateway@32473"
_NILVALUE = "-"
_BOM = "\ufeff"
#: CEF severity (0-10) and syslog severity (0-7) by what a record says happened.
_SEVERITY = {
    "call.rejected": (5, 5),
    "auth.failed": (5, 5),
    "policy.reload_failed": (7, 4),
    "slack.request_refused": (7, 4),
    "notification.failed": (5, 4),
    "approval.expired": (3, 5),
}
_DEFAULT_SEVERITY = (3, 6)
_CALL_DENIED = (5, 5)


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def record_json(record: AuditRecord) -> dict[str, Any]:
    """The JSON event: the record as it is chained, plus its time in RFC 3339."""
    return {
        "seq": record.seq,
        "ts": record.ts,
        "time": rfc3339(record.ts),
        "kind": record.kind,
        "call_id": record.call_id,
        "data": dict(record.data),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
    }


def severities(record: AuditRecord) -> tuple[int, int]:
    """(CEF severity, syslog severity)."""
    if record.kind == "call.decided" and record.data.get("effect") == "deny":
        return _CALL_DENIED
    if record.kind == "call.completed" and record.data.get("status") == "error":
        return _CALL_DENIED
    return _SEVERITY.get(record.kind, _DEFAULT_SEVERITY)


def _cef_header(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|")


def _cef_value(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    return text.replace("\\", "\\\\").replace("=", "\\=").replace("\r", "\\r").replace("\n", "\\n")


def cef(record: AuditRecord) -> str:
    """One CEF:0 line. Custom strings carry the chain (cs1-cs3) and the call (cs4-cs6)."""
    data = record.data
    principal = data.get("principal")
    subject = principal.get("subject") if isinstance(principal, dict) else None
    tool = f"{data['connector']}.{data['tool']}" if "connector" in data and "tool" in data else None
    extension: list[tuple[str, Any]] = [
        ("rt", int(record.ts * 1000)),
        ("externalId", record.seq),
        ("cs1Label", "callId"),
        ("cs1", record.call_id),
        ("cs2Label", "recordHash"),
        ("cs2", record.hash),
        ("cs3Label", "prevHash"),
        ("cs3", record.prev_hash),
        ("cs4Label", "tool"),
        ("cs4", tool),
        ("cs5Label", "rule"),
        ("cs5", data.get("rule")),
        ("cs6Label", "approvalId"),
        ("cs6", data.get("approval_id")),
        ("suser", subject or data.get("approver")),
        ("act", data.get("effect") or data.get("status") or data.get("outcome")),
        ("reason", data.get("reason") or data.get("error")),
        ("src", data.get("client")),
        ("msg", json.dumps(dict(data), separators=(",", ":"), ensure_ascii=False)),
    ]
    header = "|".join(
        _cef_header(part)
        for part in ("CEF:0", "agent-gateway", "agent-gateway", __version__, record.kind, record.kind.replace(".", " "))
    )
    fields = " ".join(f"{key}={_cef_value(value)}" for key, value in extension if value is not None)
    return f"{header}|{severities(record)[0]}|{fields}"


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(record: AuditRecord, *, facility: int, hostname: str, app_name: str, format: str) -> bytes:
    """`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG` (RFC 5424), MSG in UTF-8."""
    pri = facility * 8 + severities(record)[1]
    params = {"seq": str(record.seq), "hash": record.hash, "prev": record.prev_hash}
    if record.call_id:
        params["call_id"] = record.call_id
    sd = f"[{SD_ID} " + " ".join(f'{k}="{_sd_value(v)}"' for k, v in params.items()) + "]"
    msgid = record.kind[:32] or _NILVALUE
    body = (
        cef(record) if format == "cef" else json.dumps(record_json(record), separators=(",", ":"), ensure_ascii=False)
    )
    header = f"<{pri}>1 {rfc3339(record.ts)} {hostname[:255]} {app_name} {_NILVALUE} {msgid} {sd} "
    return (header + _BOM + body).encode("utf-8")


def octet_counted(message: bytes) -> bytes:
    """RFC 6587 section 3.4.1: `MSG-LEN SP SYSLOG-MSG`, so a message may hold newlines."""
    return str(len(message)).encode() + b" " + message
