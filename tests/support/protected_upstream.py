"""The echo MCP upstream (connectors/mcp/stub.py) as an OAuth resource server of the test
IdP (tests/support/oidc_idp.py), the way the MCP authorization spec describes one, and
`oauth_backend`: the IdP with the gateway's clients registered, and the upstream behind it.

It publishes protected-resource metadata (RFC 9728) naming the IdP, answers a request
without a valid token `401` with `resource_metadata` and the scope it needs, and accepts
only JWT access tokens signed by the IdP (its JWKS) for its own resource and issuer. `add`
changes something, so it needs `mcp:write` besides `mcp:tools`: a token without it gets
`403 insufficient_scope` naming both. What it saw is kept for the test to read.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connectors.mcp import stub as echo_stub
from gateway.serving import free_port, running
from tests.support.node_tools import NodeTools
from tests.support.oidc_idp import Idp, running_idp

PRM_PATH = "/.well-known/oauth-protected-resource/mcp"
READ_SCOPE = "mcp:tools"
WRITE_SCOPE = "mcp:write"
#: Tools that need the write scope too.
WRITE_TOOLS = frozenset({"add"})

#: The gateway's clients at the IdP: one may write, one may only read, one authenticates
#: in the form body, one with a signed assertion (private_key_jwt, ES256).
WRITER = {"client_id": "gateway-writer", "client_secret": "gateway-writer-secret-0123456789"}
READER = {"client_id": "gateway-reader", "client_secret": "gateway-reader-secret-0123456789"}
POSTER = {"client_id": "gateway-poster", "client_secret": "gateway-poster-secret-0123456789"}
SIGNER_ID = "gateway-signer"
_SIGNING_KEY = ec.generate_private_key(ec.SECP256R1())
SIGNING_PEM = _SIGNING_KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()


@dataclass
class Seen:
    """What reached the upstream: every Authorization header, the claims of accepted tokens
    and the status of each refusal."""

    authorizations: list[str] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refusals: list[int] = field(default_factory=list)


@dataclass
class ProtectedUpstream:
    base: str
    seen: Seen

    @property
    def url(self) -> str:
        return f"{self.base}/mcp"


def _needed(body: bytes) -> list[str]:
    try:
        message = json.loads(body)
    except ValueError:
        return [READ_SCOPE]
    params = message.get("params") if isinstance(message, dict) else None
    writes = isinstance(params, dict) and message.get("method") == "tools/call" and params.get("name") in WRITE_TOOLS
    return [READ_SCOPE, WRITE_SCOPE] if writes else [READ_SCOPE]


class _Guard:
    def __init__(self, app: ASGIApp, base: str, issuer: str, keys: jwt.PyJWKSet, seen: Seen) -> None:
        self.app, self.base, self.issuer, self.keys, self.seen = app, base, issuer, keys, seen

    def _challenge(self, status: int, scopes: list[str], error: str | None) -> Response:
        self.seen.refusals.append(status)
        fields = [f'resource_metadata="{self.base}{PRM_PATH}"', f'scope="{" ".join(scopes)}"']
        if error:
            fields.append(f'error="{error}"')
        challenge = {"WWW-Authenticate": "Bearer " + ", ".join(fields)}
        return JSONResponse({"error": error or "unauthorized"}, status, challenge)

    def _claims(self, authorization: str) -> dict[str, Any] | None:
        token = authorization.removeprefix("Bearer ")
        try:
            key = self.keys[jwt.get_unverified_header(token)["kid"]]
            claims: dict[str, Any] = jwt.decode(
                token, key, algorithms=["RS256"], audience=f"{self.base}/mcp", issuer=self.issuer
            )
        except (jwt.PyJWTError, KeyError):
            return None
        return claims

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope["path"] == PRM_PATH:
            metadata = {"resource": f"{self.base}/mcp", "authorization_servers": [self.issuer]}
            await JSONResponse({**metadata, "scopes_supported": [READ_SCOPE, WRITE_SCOPE]})(scope, receive, send)
            return
        messages: list[Message] = [await receive()]
        while messages[-1].get("more_body"):
            messages.append(await receive())
        needed = _needed(b"".join(m.get("body", b"") for m in messages))
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode()
        self.seen.authorizations.append(authorization)
        claims = self._claims(authorization) if authorization.startswith("Bearer ") else None
        if claims is None:
            await self._challenge(401, [READ_SCOPE], "invalid_token" if authorization else None)(scope, receive, send)
            return
        if not set(needed) <= set(str(claims.get("scope", "")).split()):
            await self._challenge(403, needed, "insufficient_scope")(scope, receive, send)
            return
        self.seen.accepted.append(claims)

        async def replay() -> Message:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


@contextlib.asynccontextmanager
async def protected_upstream(issuer: str, port: int) -> AsyncIterator[ProtectedUpstream]:
    """The echo upstream on `port` (the IdP must list `http://127.0.0.1:<port>/mcp` as a resource)."""
    async with httpx.AsyncClient() as http:
        discovery = (await http.get(f"{issuer}/.well-known/openid-configuration")).json()
        keys = jwt.PyJWKSet.from_dict((await http.get(discovery["jwks_uri"])).json())
    base, seen = f"http://127.0.0.1:{port}", Seen()
    async with running(_Guard(echo_stub.create_app(), base, issuer, keys, seen), port=port):
        yield ProtectedUpstream(base, seen)


OAuthBackend = tuple[Idp, ProtectedUpstream]


def _machine(client: dict[str, str], scope: str, **metadata: Any) -> dict[str, Any]:
    grant = {"grant_types": ["client_credentials"], "redirect_uris": [], "response_types": []}
    return {**client, **grant, "scope": scope, **metadata}


def idp_clients() -> list[dict[str, Any]]:
    public_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(_SIGNING_KEY.public_key()))
    both = f"{READ_SCOPE} {WRITE_SCOPE}"
    return [
        _machine(WRITER, both),
        _machine(READER, READ_SCOPE),
        _machine(POSTER, both, token_endpoint_auth_method="client_secret_post"),
        _machine(
            {"client_id": SIGNER_ID},
            both,
            token_endpoint_auth_method="private_key_jwt",
            token_endpoint_auth_signing_alg="ES256",
            jwks={"keys": [{**public_jwk, "kid": "signer-1", "alg": "ES256", "use": "sig"}]},
        ),
    ]


@contextlib.asynccontextmanager
async def oauth_backend(tools: NodeTools, workdir: Path, *, ttl: int = 300) -> AsyncIterator[OAuthBackend]:
    """The IdP (access tokens living `ttl` seconds) and the upstream it protects."""
    port = free_port()  # known before the IdP starts: it registers the upstream as a resource
    settings: dict[str, Any] = {"resources": [f"http://127.0.0.1:{port}/mcp"], "clients": idp_clients(), "claims": {}}
    async with contextlib.AsyncExitStack() as stack:
        idp = await stack.enter_async_context(
            running_idp(tools, workdir, **settings, scope=f"{READ_SCOPE} {WRITE_SCOPE}", ttl=ttl)
        )
        yield idp, await stack.enter_async_context(protected_upstream(idp.issuer, port))
