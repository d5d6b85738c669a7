"""Cursors and framing on their own: resuming needs the same log; octet counting counts bytes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from gateway.audit.streaming.cursor import CursorError, CursorFile, Position
from gateway.audit.streaming.formats import octet_counted, syslog_message
from gateway.models import AuditRecord
from gateway.serving import running
from tests.support.siem import HecReceiver, append_calls, streaming


def test_a_cursor_is_replaced_whole_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    cursor = CursorFile(tmp_path / "state" / "soc.cursor")
    assert cursor.load() == Position(0, "0" * 64)
    cursor.save(Position(7, "ab" * 32))
    assert cursor.load() == Position(7, "ab" * 32)
    assert not list((tmp_path / "state").glob("*.tmp"))
    cursor.path.write_text("{not json")
    try:
        cursor.load()
    except CursorError as exc:
        assert "unreadable sink cursor" in str(exc)
    else:
        raise AssertionError("a damaged cursor must not silently restart from the beginning")


async def test_a_cursor_from_another_log_stops_the_sink_instead_of_guessing(tmp_path: Path) -> None:
    hec = HecReceiver()
    CursorFile(tmp_path / "state" / "splunk.cursor").save(Position(2, "f" * 64))
    sink = {"kind": "splunk_hec", "name": "splunk", "url": "", "token": hec.token}
    async with running(hec.app()) as url, streaming(tmp_path, {**sink, "url": url}) as streamed:
        await append_calls(streamed.audit, 3)
        await asyncio.sleep(0.3)
        exposition = streamed.exposition()
    assert hec.events == []
    assert 'gateway_audit_sink_up{sink="splunk"} 0.0' in exposition


def test_octet_counting_counts_utf8_bytes_and_keeps_newlines_inside() -> None:
    record = AuditRecord(
        3, 1_700_000_000.5, "call.completed", "c1", {"status": "error", "error": "Zoë\nfailed"}, "0" * 64, "1" * 64
    )
    message = syslog_message(record, facility=13, hostname="gw", app_name="agent-gateway", format="json")
    framed = octet_counted(message)
    length, _, rest = framed.partition(b" ")
    assert int(length) == len(rest) == len(message)
    assert rest.startswith(b"<109>1 2023-11-14T22:13:20.500000Z gw agent-gateway - call.completed ")
    body = rest.split(b"\xef\xbb\xbf", 1)[1]
    assert json.loads(body)["data"]["error"] == "Zoë\nfailed"
