"""What TLS to a backend costs, in one run on loopback (stub and connector share a process):

1. New connections per second to a TLS listener (median of 5 rounds taken in turns):
   Python's stock client context against the gateway's (connectors.tls) without pins and
   with two pins, so the price of checking the pin inside every handshake shows as a ratio.
2. SAP connector calls per second to its stub over http://, https:// and https:// with a pin
   and a client certificate (connections are reused, so the handshake is paid once per
   connection): ratios against http://.

    .venv/bin/python bench/bench_tls.py [--handshakes 500] [--calls 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.loadgen import connector_load
from connectors.sap.connector import SapConnector
from connectors.sap.stub import SERVICE_PATH
from connectors.sap.stub import create_app as sap_app
from connectors.stubkit import serve_app
from connectors.tls import TlsOptions
from gateway.config import ConnectorSettings
from gateway.serving import ServerTls
from tests.support.pki import Pki, recording_listener


async def handshakes(context: ssl.SSLContext, port: int, count: int) -> float:
    """New TLS connections per second, one after another."""
    started = time.perf_counter()
    for _ in range(count):
        _, writer = await asyncio.open_connection("127.0.0.1", port, ssl=context)
        writer.close()
        await writer.wait_closed()
    return count / (time.perf_counter() - started)


async def handshake_figures(pki: Pki, count: int) -> None:
    stock = ssl.create_default_context(cafile=str(pki.ca.cert_file))
    contexts: dict[str, Callable[[], ssl.SSLContext]] = {
        "stock ssl context": lambda: stock,
        "gateway context, no pin": lambda: TlsOptions(ca_file=str(pki.ca.cert_file)).context(),
        "gateway context, 2 pins": lambda: TlsOptions(
            ca_file=str(pki.ca.cert_file), pin_sha256=[pki.expired.pin, pki.server.pin]
        ).context(),
    }
    rounds = 5  # taken in turns, so a busy moment of the machine does not land on one context
    rates: dict[str, list[float]] = {label: [] for label in contexts}
    async with recording_listener(pki.server.serving()) as listener:
        for _ in range(rounds):
            for label, make in contexts.items():
                rates[label].append(await handshakes(make(), listener.port, count // rounds))
    medians = {label: statistics.median(found) for label, found in rates.items()}
    base = medians["stock ssl context"]
    for label, rate in medians.items():
        print(f"{label:<36} {rate:7.0f} handshakes/s   ratio {rate / base:5.2f}")


async def calls_per_second(settings: ConnectorSettings, calls: int, concurrency: int) -> tuple[float, float]:
    connector = SapConnector(settings)
    await connector.start()
    try:
        result = await connector_load(
            connector, "search_vendors", {"country": "DE"}, calls=calls, concurrency=concurrency
        )
    finally:
        await connector.close()
    return result.rate, result.percentile(50) * 1000


async def call_figures(pki: Pki, calls: int, concurrency: int) -> None:
    credentials = {"auth": {"kind": "basic", "username": "demo", "password": "demo"}, "max_concurrency": concurrency}
    mtls = ServerTls(pki.server.cert_file, pki.server.key_file, pki.ca.cert_file)
    tls: dict[str, Any] = {
        "ca_file": str(pki.ca.cert_file),
        "pin_sha256": pki.server.pin,
        "client_cert": str(pki.client.cert_file),
        "client_key": pki.client.key_file.read_text(),
    }
    runs: dict[str, tuple[ServerTls | None, dict[str, Any]]] = {
        "http://": (None, {}),
        "https://": (pki.server.serving(), {"tls": {"ca_file": str(pki.ca.cert_file)}}),
        "https:// + pin + client certificate": (mtls, {"tls": tls}),
    }
    results = {}
    for label, (serving, extra) in runs.items():
        async with serve_app(sap_app(), tls=serving) as url:
            options = {"url": url + SERVICE_PATH, **credentials, **extra}
            settings = ConnectorSettings("sap", "sap", 10.0, options)
            results[label] = await calls_per_second(settings, calls, concurrency)
    base = results["http://"][0]
    for label, (rate, p50) in results.items():
        print(f"SAP search_vendors over {label:<36} {rate:6.0f} calls/s   p50 {p50:6.2f} ms   ratio {rate / base:5.2f}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--handshakes", type=int, default=500)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        pki = Pki.create(Path(directory))
        await handshake_figures(pki, args.handshakes)
        await call_figures(pki, args.calls, args.concurrency)


if __name__ == "__main__":
    asyncio.run(main())
