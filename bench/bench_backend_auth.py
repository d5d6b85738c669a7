"""What acting for the caller costs: SAP reads through the connector signed in as a
technical user (basic) and with token exchange (RFC 8693) at a real oidc-provider, the
exchanged token cached per caller, and the cost of a caller's first call (one exchange).

    PYTHONPATH=. .venv/bin/python bench/bench_backend_auth.py [--calls 2000 --concurrency 16 --callers 200]

Prints calls/s and p50/p99 for each, and the ratio to basic in the same run (stub,
connector and IdP on one machine: the figures are for comparison, not capacity).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

from connectors.base import CallContext, CallerToken, Connector
from connectors.sap.connector import SapConnector
from connectors.sap.stub import SERVICE_PATH, SapUser, create_app
from connectors.stub_tokens import StubTokens
from connectors.stubkit import serve_app
from gateway.config import ConnectorSettings
from gateway.models import Principal
from tests.support.node_tools import install
from tests.support.oidc_idp import Idp, running_idp

AUDIENCE = "https://sap.example.com/bench"
CLIENT = {
    "client_id": "gateway",
    "client_secret": "bench-secret-0123456789abcdef",
    "grant_types": ["urn:ietf:params:oauth:grant-type:token-exchange"],
    "redirect_uris": [],
    "response_types": [],
}
READ = ("get_purchase_order", {"purchase_order_id": "4500000001"})


async def measure(
    label: str, connector: Connector, contexts: Callable[[int], CallContext], calls: int, workers: int
) -> float:
    spent: list[float] = []
    remaining = iter(range(calls))

    async def worker() -> None:
        for n in remaining:
            start = time.perf_counter()
            await connector.call(*READ, contexts(n))
            spent.append(time.perf_counter() - start)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    rate = calls / (time.perf_counter() - started)
    cuts = statistics.quantiles(spent, n=100)
    print(f"{label:<46} {rate:7.0f} calls/s   p50 {cuts[49] * 1000:6.2f} ms   p99 {cuts[98] * 1000:6.2f} ms")
    return rate


async def caller(idp: Idp, subject: str) -> CallContext:
    now = int(time.time())
    claims = {"iss": idp.issuer, "sub": subject, "aud": "gw", "iat": now, "exp": now + 3600, "client_id": "agent"}
    token = await idp.sign(claims)
    return CallContext(
        "bench", Principal(subject, issuer=idp.issuer), "", 10.0, caller_token=CallerToken(token, now + 3600)
    )


async def main(calls: int, workers: int, callers: int) -> None:
    async with AsyncExitStack() as stack:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        idp = await stack.enter_async_context(
            running_idp(
                install(), workdir, resources=["gw"], clients=[CLIENT], claims={}, exchange={"audiences": [AUDIENCE]}
            )
        )
        users = {f"user{n}": SapUser(f"U{n}") for n in range(callers)}
        sap_url = await stack.enter_async_context(
            serve_app(create_app(tokens=StubTokens(idp.issuer, AUDIENCE), users=users))
        )

        def connector(auth: dict[str, Any]) -> SapConnector:
            return SapConnector(ConnectorSettings("sap", "sap", 10.0, {"url": sap_url + SERVICE_PATH, "auth": auth}))

        basic = connector({"kind": "basic", "username": "demo", "password": "demo"})
        exchange = connector(
            {
                "kind": "token_exchange",
                "token_url": f"{idp.issuer}/token",
                "client_id": CLIENT["client_id"],
                "client_secret": CLIENT["client_secret"],
                "audience": AUDIENCE,
            }
        )
        for c in (basic, exchange):
            await c.start()
            stack.push_async_callback(c.close)
        people = [await caller(idp, f"user{n}") for n in range(callers)]
        await basic.call(*READ, people[0])  # warm the connection
        await exchange.call(*READ, people[0])
        direct = await measure("basic (technical user)", basic, lambda n: people[0], calls, workers)
        cached = await measure("token_exchange, cached (one caller)", exchange, lambda n: people[0], calls, workers)
        first = await measure(
            f"token_exchange, each caller's first call ({callers - 1})",
            exchange,
            lambda n: people[1 + n],
            callers - 1,
            workers,
        )
        print(f"ratio to basic: cached {cached / direct:.2f}, first calls {first / direct:.2f}")
        print(f"exchanges granted by the IdP: {await idp.exchanges()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--callers", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency, args.callers))
