"""The audit log shipped to a Splunk HEC-compatible receiver (token, batching, indexer
acknowledgement) and to an OTLP/HTTP logs receiver, both real local servers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from gateway.serving import running
from tests.support.siem import HecReceiver, OtlpLogsReceiver, append_calls, streaming
from tests.support.stores import postgres_backend


async def wait_for(predicate: object, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


def hec_sink(url: str, **extra: object) -> dict[str, object]:
    return {"kind": "splunk_hec", "name": "splunk", "url": url, "token": "hec-token-0000", "batch_size": 4, **extra}


async def test_hec_batches_events_with_the_token_and_waits_for_indexer_acks(tmp_path: Path) -> None:
    hec = HecReceiver(hold_acks=True)
    async with running(hec.app()) as url:
        sink = hec_sink(url, acknowledgement=True, index="audit", ack_timeout_seconds=0.5)
        async with streaming(tmp_path, sink) as streamed:
            await append_calls(streamed.audit, 10)
            shipper = streamed.streams.shippers[0]
            await wait_for(lambda: len(hec.batches) >= 2)
            held = (shipper.position.seq, shipper.lag()[0])
            hec.hold_acks = False
            await wait_for(lambda: shipper.position.seq == 10)
            cursor = (tmp_path / "state" / "splunk.cursor").read_text()
    assert held == (0, 10), "an unacknowledged batch does not move the cursor"
    assert hec.batches[0] == hec.batches[1], "it is sent again, and nothing after it meanwhile"
    assert all(len(b) <= 4 and b == list(range(b[0], b[-1] + 1)) for b in hec.batches)
    assert list(dict.fromkeys(hec.seqs())) == list(range(1, 11))
    first = hec.events[0]
    assert first["index"] == "audit" and first["sourcetype"] == "agent-gateway:audit"
    assert first["source"] == "agent-gateway" and abs(first["time"] - time.time()) < 60
    assert first["event"]["kind"] == "call.received" and first["event"]["call_id"] == "c0"
    assert first["event"]["time"].endswith("Z")
    by_seq = {e["event"]["seq"]: e["event"] for e in hec.events}
    assert by_seq[2]["prev_hash"] == by_seq[1]["hash"] == first["event"]["hash"]
    assert '"seq": 10' in cursor


async def test_a_wrong_token_ships_nothing_and_keeps_retrying(tmp_path: Path) -> None:
    hec = HecReceiver(token="another-token")
    async with running(hec.app()) as url, streaming(tmp_path, hec_sink(url)) as streamed:
        await append_calls(streamed.audit, 2)
        await wait_for(lambda: streamed.streams.shippers[0].failures >= 3)
        position = streamed.streams.shippers[0].position.seq
    assert hec.events == [] and position == 0


async def test_otlp_logs_carry_the_record_and_its_chain_position(tmp_path: Path) -> None:
    collector = OtlpLogsReceiver()
    async with running(collector.app()) as url:
        sink = {"kind": "otlp", "name": "otel", "endpoint": url, "service_name": "gw-audit"}
        async with streaming(tmp_path, sink) as streamed:
            await streamed.audit.append("call.decided", {"effect": "deny", "rule": "p.csv:3"}, call_id="c9")
            await append_calls(streamed.audit, 3)
            await wait_for(lambda: len(collector.records) == 4)
    denied = collector.records[0]
    assert denied["service"] == "gw-audit" and denied["scope"] == "agent-gateway.audit"
    assert denied["event_name"] == "call.decided" and denied["severity"] == "INFO"
    assert denied["body"]["data"] == {"effect": "deny", "rule": "p.csv:3"}
    assert denied["attributes"]["gateway.audit.seq"] == 1
    assert denied["attributes"]["gateway.call_id"] == "c9"
    assert denied["attributes"]["gateway.audit.hash"] == denied["body"]["hash"]
    assert abs(denied["time_unix_nano"] / 1e9 - denied["body"]["ts"]) < 1e-3
    assert [r["attributes"]["gateway.audit.seq"] for r in collector.records] == [1, 2, 3, 4]


async def test_a_postgresql_log_ships_in_chain_order_too(tmp_path: Path) -> None:
    hec = HecReceiver()
    async with (
        postgres_backend() as backend,
        running(hec.app()) as url,
        streaming(tmp_path, hec_sink(url, acknowledgement=True), backend.database) as streamed,
    ):
        await append_calls(streamed.audit, 9)
        await wait_for(lambda: streamed.streams.shippers[0].position.seq == 9)
        head = streamed.audit.head
    assert hec.seqs() == list(range(1, 10))
    assert hec.events[-1]["event"]["hash"] == head.hash
