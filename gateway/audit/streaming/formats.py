"""How an audit record looks to a SIEM: the JSON event and the RFC 5424 syslog message
framed with octet counting (RFC 6587); CEF is the export's (gateway/audit/export.py).
docs/audit.md lists every field."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from gateway.audit.export import cef, cef_severity
from gateway.models import AuditRecord

#: Private enterprise number 32473 is the one RFC 5612 reserves for documentation and
#: examples; the SD-ID says the parameters are the gateway's own.
SD_ID = "gateway@32473"
_NILVALUE = "-"
_BOM = "\ufeff"


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


def syslog_severity(record: AuditRecord) -> int:
    """RFC 5424 severity from the CEF one: 4 (warning) for 7 and up, 5 (notice) for 5-6, else 6 (info)."""
    severity = cef_severity(record)
    return 4 if severity >= 7 else 5 if severity >= 5 else 6


def _sd_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def syslog_message(record: AuditRecord, *, facility: int, hostname: str, app_name: str, format: str) -> bytes:
    """`<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG` (RFC 5424), MSG in UTF-8."""
    pri = facility * 8 + syslog_severity(record)
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
