"""A JWKS issuer the test holds the private keys of: a Starlette app on a loopback port
serving discovery and a JWKS whose keys, Cache-Control and availability the test sets,
counting every fetch. Tokens are signed by hand so any header or byte can be forged."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.serving import running

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass
class SigningKey:
    kid: str
    alg: str
    private: PrivateKey
    use: str | None = "sig"
    publish_alg: bool = True

    @classmethod
    def new(cls, kid: str, alg: str = "RS256", **kw: Any) -> SigningKey:
        private: PrivateKey = (
            ec.generate_private_key(ec.SECP256R1()) if alg == "ES256" else rsa.generate_private_key(65537, 2048)
        )
        return cls(kid, alg, private, **kw)

    def jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        data: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))
        data["kid"] = self.kid
        if self.use is not None:
            data["use"] = self.use
        if self.publish_alg:
            data["alg"] = self.alg
        return data

    def sign(self, payload: dict[str, Any], **header: Any) -> str:
        return jwt.encode(payload, self.private, algorithm=self.alg, headers={"kid": self.kid, **header})

    def sign_raw(self, header: bytes, payload: bytes) -> str:
        """Signs exact header and payload bytes (duplicate JSON keys and all)."""
        encode = jwt.utils.base64url_encode
        signing_input = encode(header) + b"." + encode(payload)
        signature = jwt.get_algorithm_by_name(self.alg).sign(signing_input, self.private)
        return (signing_input + b"." + encode(signature)).decode()


@dataclass
class JwksIssuer:
    url: str = ""
    keys: list[SigningKey] = field(default_factory=list)
    cache_control: str | None = "max-age=300"
    #: An HTTP status to answer JWKS requests with instead (the IdP is down).
    failing: int | None = None
    jwks_fetches: int = 0

    @property
    def issuer(self) -> str:
        return f"{self.url}/issuer"

    def app(self) -> Starlette:
        async def discovery(request: Request) -> Response:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": f"{self.url}/jwks"})

        async def jwks(request: Request) -> Response:
            self.jwks_fetches += 1
            if self.failing is not None:
                return Response(status_code=self.failing)
            headers = {"Cache-Control": self.cache_control} if self.cache_control else {}
            return JSONResponse({"keys": [k.jwk() for k in self.keys]}, headers=headers)

        return Starlette(routes=[Route("/issuer/.well-known/openid-configuration", discovery), Route("/jwks", jwks)])


@contextlib.asynccontextmanager
async def jwks_issuer(*keys: SigningKey) -> AsyncIterator[JwksIssuer]:
    issuer = JwksIssuer(keys=list(keys))
    async with running(issuer.app()) as url:
        issuer.url = url
        yield issuer
