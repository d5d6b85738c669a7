"""Token verification against a cached JWKS key, and JWKS fetches under an unknown-kid flood.

    .venv/bin/python bench/bench_identity.py [--calls 5000 --flood 10000]

A loopback JWKS issuer serves one RS256 and one ES256 key. For each algorithm it prints the
p50/p95 of the gateway's whole verification (header checks, issuer by `iss`, cached key by
`kid`, signature, claims, Principal) beside pyjwt's bare `decode` with the key in hand (the
direct call), and the difference: what trusting an identity provider's JWKS adds per call.
Then it verifies `--flood` tokens naming unknown kids, 100 at a time, and prints how many
JWKS requests the issuer received (refetch interval: the default 60 s).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.config import parse_config
from gateway.identity import AuthError, TokenVerifier
from gateway.serving import running

AUDIENCE = "https://gateway.bench/mcp"


def quantiles(spent: list[int]) -> tuple[float, float]:
    cuts = statistics.quantiles(spent, n=100)
    return cuts[49] / 1000, cuts[94] / 1000


async def timed(call: Callable[[], Awaitable[Any]], n: int) -> list[int]:
    spent = []
    for _ in range(n):
        start = time.perf_counter_ns()
        await call()
        spent.append(time.perf_counter_ns() - start)
    return spent


class Issuer:
    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]] = {
            "rsa-1": ("RS256", rsa.generate_private_key(65537, 2048)),
            "ec-1": ("ES256", ec.generate_private_key(ec.SECP256R1())),
        }
        self.fetches = 0
        self.url = ""

    def app(self) -> Starlette:
        async def jwks(request: Request) -> JSONResponse:
            self.fetches += 1
            keys = []
            for kid, (alg, private) in self.keys.items():
                jwk = json.loads(jwt.get_algorithm_by_name(alg).to_jwk(private.public_key()))
                keys.append({**jwk, "kid": kid, "alg": alg, "use": "sig"})
            return JSONResponse({"keys": keys}, headers={"Cache-Control": "max-age=3600"})

        return Starlette(routes=[Route("/jwks", jwks)])

    def token(self, kid: str, signing_kid: str | None = None) -> str:
        alg, private = self.keys[signing_kid or kid]
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "bench-agent",
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + 3600,
            "scope": "mcp:tools",
            "roles": ["tester"],
        }
        return jwt.encode(claims, private, algorithm=alg, headers={"kid": kid})


async def main(calls: int, flood: int) -> None:
    issuer = Issuer()
    async with running(issuer.app()) as url:
        issuer.url = url
        raw = {
            "identity": {
                "issuers": [
                    {
                        "issuer": url,
                        "jwks_uri": f"{url}/jwks",
                        "discovery": False,
                        "audiences": [AUDIENCE],
                        "algorithms": ["RS256", "ES256"],
                    }
                ]
            }
        }
        config = parse_config(raw, base_dir=Path(tempfile.gettempdir()), environ={})
        verifier = TokenVerifier(config.identity, config.base_dir)
        await verifier.issuers.start()
        try:
            for kid in ("rsa-1", "ec-1"):
                alg, private = issuer.keys[kid]
                token, public = issuer.token(kid), private.public_key()

                async def direct(token: str = token, public: Any = public, alg: str = alg) -> Any:
                    return jwt.decode(token, public, algorithms=[alg], audience=AUDIENCE, issuer=url)

                async def gateway(token: str = token) -> Any:
                    return await verifier.verify(token)

                await timed(gateway, 200)
                mine, bare = quantiles(await timed(gateway, calls)), quantiles(await timed(direct, calls))
                print(
                    f"{alg}: gateway verify p50 {mine[0]:6.1f} us p95 {mine[1]:6.1f} us | pyjwt decode (direct) "
                    f"p50 {bare[0]:6.1f} us p95 {bare[1]:6.1f} us | added p50 {mine[0] - bare[0]:+6.1f} us, "
                    f"ratio {mine[0] / bare[0]:.2f}"
                )
            before = issuer.fetches
            tokens = [issuer.token(f"unknown-{n}", "rsa-1") for n in range(flood)]
            started = time.perf_counter()
            refused = 0
            for batch in range(0, flood, 100):
                results = await asyncio.gather(
                    *(verifier.verify(t) for t in tokens[batch : batch + 100]), return_exceptions=True
                )
                refused += sum(isinstance(r, AuthError) for r in results)
            spent = time.perf_counter() - started
            print(
                f"unknown-kid flood: {flood} tokens, {refused} refused, {issuer.fetches - before} JWKS fetch(es) "
                f"(plus {before} at start) in {spent:.2f} s ({spent / flood * 1e6:.0f} us per token)"
            )
        finally:
            await verifier.issuers.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--flood", type=int, default=10_000)
    options = parser.parse_args()
    asyncio.run(main(options.calls, options.flood))
