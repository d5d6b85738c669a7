"""The audit log shipped to a real rsyslog over TCP (octet-counting framing) and over TLS;
rsyslog parses each RFC 5424 message and writes its fields to a file."""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path

from tests.support.ops import sample
from tests.support.siem import Rsyslog, append_calls, make_tls, rsyslog, steady_calls, streaming


async def arrived(server: Rsyslog, count: int, seconds: float = 20) -> list[list[str]]:
    async with asyncio.timeout(seconds):
        while len(server.lines()) < count:
            await asyncio.sleep(0.05)
    return server.lines()


def seq_of(line: list[str]) -> int:
    return int(line[5].split('seq="')[1].split('"')[0])


async def test_rfc5424_over_tcp_reaches_rsyslog_parsed_in_chain_order(tmp_path: Path) -> None:
    async with rsyslog(tmp_path / "rsyslog") as server:
        sink = {
            "kind": "syslog",
            "name": "soc",
            "host": "127.0.0.1",
            "port": server.port,
            "hostname": "gw-1",
            "batch_size": 7,
        }
        async with streaming(tmp_path, sink) as (audit, streams):
            # A message with a newline and non-ASCII text: octet counting keeps it one message.
            await audit.append("policy.reload_failed", {"error": "line one\nline two", "who": "Zoë"})
            await append_calls(audit, 20)
            lines = await arrived(server, 21)
            shipper = streams.shippers[0]
            async with asyncio.timeout(10):
                while shipper.position.seq < 21:  # the cursor is saved after the close is seen
                    await asyncio.sleep(0.02)
            lag = shipper.lag()
    facility, severity, host, app, msgid, sd, msg = lines[0]
    assert (facility, severity, host, app, msgid) == ("13", "4", "gw-1", "agent-gateway", "policy.reload_failed")
    first = json.loads(msg.removeprefix("\ufeff"))
    assert first["data"] == {"error": "line one\nline two", "who": "Zoë"} and first["seq"] == 1
    assert sd.startswith('[gateway@32473 seq="1" hash="') and f'hash="{first["hash"]}"' in sd
    assert [seq_of(line) for line in lines] == list(range(1, 22)), "every record once, in chain order"
    assert [line[4] for line in lines[1:]] == ["call.received"] * 20
    second = json.loads(lines[1][6].removeprefix("\ufeff"))
    assert second["prev_hash"] == first["hash"] and second["call_id"] == "c0"
    assert lag == (0, 0.0)


async def test_cef_over_tls_with_the_collectors_certificate_verified(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "pki")
    async with rsyslog(tmp_path / "rsyslog", tls) as server:
        sink = {
            "kind": "syslog", "name": "soc", "host": "127.0.0.1", "port": server.port, "tls": True,
            "ca_file": str(tls.ca), "server_name": "localhost", "format": "cef",
        }  # fmt: skip
        async with streaming(tmp_path, sink) as (audit, _):
            await append_calls(audit, 3)
            lines = await arrived(server, 3)
    cef = lines[0][6].removeprefix("\ufeff")
    assert cef.startswith("CEF:0|agent-gateway|agent-governance-gateway|")
    header = cef.split("|")
    assert header[4:7] == ["call.received", "call received", "3"]
    assert "externalId=1 " in cef and "suser=agent-1" in cef
    assert "cs1Label=connector cs1=sap cs2Label=tool cs2=pay cs3Label=callId cs3=c0 " in cef


async def test_an_untrusted_collector_gets_nothing_and_the_lag_shows_it(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "pki")
    other = make_tls(tmp_path / "other-pki")
    async with rsyslog(tmp_path / "rsyslog", tls) as server:
        sink = {
            "kind": "syslog",
            "name": "soc",
            "host": "127.0.0.1",
            "port": server.port,
            "tls": True,
            "ca_file": str(other.ca),
        }
        async with streaming(tmp_path, sink) as streamed:
            await append_calls(streamed.audit, 2)
            async with asyncio.timeout(10):
                while streamed.streams.shippers[0].failures < 2:
                    await asyncio.sleep(0.02)
            exposition = streamed.exposition()
    assert server.lines() == []
    assert sample(exposition, "gateway_audit_sink_lag_records", sink="soc") == 2
    assert sample(exposition, "gateway_audit_sink_up", sink="soc") == 0
    assert (sample(exposition, "gateway_audit_sink_failures_total", sink="soc") or 0) >= 2
    assert (sample(exposition, "gateway_audit_sink_lag_seconds", sink="soc") or 0) > 0


async def test_rsyslog_killed_mid_stream_loses_nothing(tmp_path: Path) -> None:
    async with rsyslog(tmp_path / "rsyslog") as server:
        sink = {"kind": "syslog", "name": "soc", "host": "127.0.0.1", "port": server.port, "batch_size": 5}
        async with streaming(tmp_path, sink) as (audit, _):
            writer = asyncio.create_task(steady_calls(audit, 120))
            await arrived(server, 20)
            await server.stop(signal.SIGKILL)
            await asyncio.sleep(0.3)
            await server.start()
            await writer
            await arrived(server, 120)
            await asyncio.sleep(0.3)
            lines = server.lines()
    seqs = [seq_of(line) for line in lines]
    assert sorted(set(seqs)) == list(range(1, 121)), "no gap"
    assert list(dict.fromkeys(seqs)) == list(range(1, 121)), "no reordering"
