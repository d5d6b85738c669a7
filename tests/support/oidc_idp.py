"""A real OpenID provider (`oidc-provider` on Node 22, oidc_idp.mjs beside this module) on a
loopback port with a fresh key set, and the gateway configured to trust it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from gateway.serving import free_port
from tests.support.node_tools import NodeTools

SCRIPT = Path(__file__).with_name("oidc_idp.mjs")
SCOPE = "mcp:tools"
START_TIMEOUT_SECONDS = 30


@dataclass
class Idp:
    issuer: str
    process: asyncio.subprocess.Process

    async def client_credentials(self, client_id: str, secret: str, resource: str, scope: str = SCOPE) -> str:
        """An access token for `resource` by the client credentials grant."""
        async with httpx.AsyncClient() as http:
            response = await http.post(
                f"{self.issuer}/token",
                data={"grant_type": "client_credentials", "resource": resource, **({"scope": scope} if scope else {})},
                auth=(client_id, secret),
            )
        if response.status_code != 200:
            raise RuntimeError(f"token request refused: {response.text}")
        return str(response.json()["access_token"])

    async def _post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        async with httpx.AsyncClient() as http:
            response = await http.post(f"{self.issuer}/__test/{path}", json=body or {})
        response.raise_for_status()
        result: dict[str, Any] = response.json()
        return result

    async def rotate(self) -> list[str]:
        """Publish a new signing key first; the old ones stay published. Returns the kids."""
        return list((await self._post("rotate"))["kids"])

    async def retire(self) -> list[str]:
        """Keep only the newest key."""
        return list((await self._post("retire"))["kids"])

    async def exchanges(self) -> int:
        """How many token exchanges (RFC 8693) the provider granted so far."""
        return int((await self._post("exchanges"))["exchanges"])

    async def sign(self, payload: dict[str, Any], header: dict[str, Any] | None = None) -> str:
        """A token signed with the IdP's current key: what a compromised or odd IdP could issue."""
        return str((await self._post("sign", {"payload": payload, "header": header or {}}))["token"])


@contextlib.asynccontextmanager
async def running_idp(
    tools: NodeTools,
    workdir: Path,
    *,
    resources: list[str],
    clients: list[dict[str, Any]],
    claims: dict[str, dict[str, Any]],
    alg: str = "RS256",
    exchange: dict[str, Any] | None = None,
    scope: str = SCOPE,
    ttl: int = 300,
) -> AsyncIterator[Idp]:
    """`exchange`: {audiences: [...], ttl: seconds}, the audiences token exchange may issue for."""
    workdir.mkdir(parents=True, exist_ok=True)
    # Node resolves packages next to the script: give the copy the tools' node_modules.
    script = workdir / SCRIPT.name
    shutil.copy(SCRIPT, script)
    (workdir / "node_modules").symlink_to(tools.node.parent.parent.parent)
    port = free_port()
    settings = {
        "port": port,
        "resources": resources,
        "scope": scope,
        "clients": clients,
        "claims": claims,
        "alg": alg,
        "ttl": ttl,
        "exchange": exchange or {},
    }
    process = await asyncio.create_subprocess_exec(
        str(tools.node),
        str(script),
        json.dumps(settings),
        cwd=workdir,
        stdout=asyncio.subprocess.PIPE,
        stderr=(workdir / "idp.log").open("wb"),
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(START_TIMEOUT_SECONDS):
            while not (line := (await process.stdout.readline()).decode()).startswith("ready "):
                if not line:
                    log = (workdir / "idp.log").read_text()[-2000:]
                    raise RuntimeError(f"oidc-provider exited with {await process.wait()}: {log}")
        yield Idp(line.split()[1], process)
    finally:
        if process.returncode is None:
            process.terminate()
            await process.wait()
