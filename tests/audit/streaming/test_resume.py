"""Resuming after crashes: a real `gateway serve` process ships its audit log to a Splunk
HEC receiver while requests keep coming; the gateway is SIGKILLed with a batch waiting
for its acknowledgement, restarted, then the receiver is taken down and brought back.
Every record arrives, in chain order, byte for byte the one in the log."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import yaml

from gateway.audit import read_records
from gateway.serving import free_port, running
from tests.support.gateway import REPO, SECRET
from tests.support.siem import HecReceiver

#: The roles the shipped policy's approval rules name (a policy naming an unknown one does not load).
SHIPPED_APPROVER_ROLES = ["approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor"]


class GatewayProcess:
    def __init__(self, config: Path, port: int) -> None:
        self.config = config
        self.url = f"http://127.0.0.1:{port}"
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "gateway.cli", "serve", "--config", str(self.config),
            cwd=REPO, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        async with asyncio.timeout(30), httpx.AsyncClient() as http:
            while True:
                assert self._process.returncode is None, "the gateway exited during start-up"
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(f"{self.url}/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)

    async def stop(self, sig: int) -> None:
        assert self._process is not None
        self._process.send_signal(sig)
        await self._process.wait()


async def traffic(url: str, stop: asyncio.Event) -> None:
    """Unauthenticated requests: each one is an `auth.failed` audit record."""
    async with httpx.AsyncClient(timeout=2) as http:
        while not stop.is_set():
            with contextlib.suppress(httpx.HTTPError):
                await http.post(f"{url}/mcp", json={})
            await asyncio.sleep(0.005)


@contextlib.asynccontextmanager
async def sink(hec: HecReceiver, port: int) -> AsyncIterator[None]:
    async with running(hec.app(), port=port):
        yield


async def wait_for(predicate: object, seconds: float = 30) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.02)


async def test_gateway_and_sink_killed_mid_stream_no_gap_no_reordering(tmp_path: Path, policy_dir: Path) -> None:
    hec, hec_port, port = HecReceiver(), free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "allow_inline_secrets": True,
                "catalog": {"trust_on_first_use": True},
                # The traffic is refused tokens: unthrottled, and summed into a record per
                # short window, they keep the log growing while the sink and gateway die.
                "guards": {
                    "auth_failures": {"window_seconds": 0.02, "per_source_rate": 100000, "per_source_burst": 100000}
                },
                "server": {"host": "127.0.0.1", "port": port},
                "identity": {"secret": SECRET},
                "policy": {"directory": str(policy_dir), "watch": False},
                "audit": {"database": str(tmp_path / "audit.db")},
                "approvals": {"approver_roles": SHIPPED_APPROVER_ROLES},
                "audit_streaming": {
                    "state_directory": str(tmp_path / "cursors"),
                    "poll_seconds": 0.02,
                    "max_backoff_seconds": 0.2,
                    "sinks": [
                        {
                            "kind": "splunk_hec",
                            "name": "splunk",
                            "url": f"http://127.0.0.1:{hec_port}",
                            "token": hec.token,
                            "acknowledgement": True,
                            "batch_size": 8,
                            "timeout_seconds": 2,
                        }
                    ],
                },
            }
        )
    )
    gateway, stop = GatewayProcess(config, port), asyncio.Event()
    stack = contextlib.AsyncExitStack()
    await stack.enter_async_context(sink(hec, hec_port))
    await gateway.start()
    load = asyncio.create_task(traffic(gateway.url, stop))
    try:
        await wait_for(lambda: len(hec.events) >= 40)
        hec.hold_acks = True  # a batch is in flight, delivered but not yet acknowledged
        polls = hec.ack_polls
        await wait_for(lambda: hec.ack_polls > polls + 2)
        await gateway.stop(signal.SIGKILL)
        in_flight = hec.batches[-1]
        hec.hold_acks = False
        await gateway.start()
        shipped = len(hec.events)
        await wait_for(lambda: len(hec.events) >= shipped + 40)
        await stack.aclose()  # the sink goes down mid-stream
        await asyncio.sleep(0.5)
        await stack.enter_async_context(sink(hec, hec_port))
        await wait_for(lambda: len(hec.events) >= shipped + 80)
        stop.set()
        await load
        written = len(list(read_records(tmp_path / "audit.db")))
        await wait_for(lambda: max(hec.seqs()) >= written)
        await gateway.stop(signal.SIGTERM)
    finally:
        stop.set()
        await stack.aclose()
    # Stopping writes gateway.stopped, which may or may not leave before the sink closes.
    log = list(read_records(tmp_path / "audit.db"))
    seqs = hec.seqs()
    shipped_up_to = max(seqs)
    assert written <= shipped_up_to <= len(log)
    assert sorted(set(seqs)) == list(range(1, shipped_up_to + 1)), "no gap"
    assert list(dict.fromkeys(seqs)) == list(range(1, shipped_up_to + 1)), "no reordering"
    assert seqs.count(in_flight[0]) >= 2, "the batch unacknowledged at the kill was sent again"
    by_seq = {r.seq: r for r in log}
    for event in hec.events:
        record = by_seq[event["event"]["seq"]]
        assert (event["event"]["hash"], event["event"]["kind"]) == (record.hash, record.kind)
    kinds = [r.kind for r in log]
    assert kinds.count("gateway.started") == 2 and kinds.count("auth.failed") >= 80
