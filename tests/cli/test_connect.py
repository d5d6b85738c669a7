"""`gateway connect`: a local stdio MCP server forwarding tools, prompts and resources to a
remote gateway, which governs each request for the identity the bridge signs in with."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from mcp import Client, MCPError, StdioServerParameters

from gateway.audit import read_records
from gateway.serving import running
from tests.mcp.test_conformance import CONFORMANCE_POLICY
from tests.support import conformance_stub
from tests.support.gateway import GatewayFactory, RunningGateway


@pytest.fixture
async def gateway(start_gateway: GatewayFactory, policy_dir: Path) -> AsyncIterator[RunningGateway]:
    (policy_dir / "conformance.csv").write_text(CONFORMANCE_POLICY)
    async with running(conformance_stub.create_app()) as upstream:
        connectors = {"conf": {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 10, "protocol": "legacy"}}
        async with start_gateway(connectors) as gw:
            yield gw


def bridge(gw: RunningGateway, token: str, tmp_path: Path) -> StdioServerParameters:
    env = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "GATEWAY_TOKEN": token}
    return StdioServerParameters(
        command=sys.executable, args=["-m", "gateway.cli", "connect", "--url", gw.url], env=env
    )


async def test_tools_prompts_and_resources_pass_through(gateway: RunningGateway, tmp_path: Path) -> None:
    async with Client(bridge(gateway, gateway.token("bridged", ("tester",)), tmp_path), cache=None) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        called = await client.call_tool("conf.test_simple_text", {})
        prompts = {p.name for p in (await client.list_prompts()).prompts}
        prompt = await client.get_prompt("conf.test_simple_prompt")
        resources = {str(r.uri) for r in (await client.list_resources()).resources}
        templates = (await client.list_resource_templates()).resource_templates
        static = next(uri for uri in resources if uri.endswith("static-text"))
        read = await client.read_resource(static)
    assert "conf.test_simple_text" in tools and not called.is_error
    assert "conf.test_simple_prompt" in prompts and prompt.messages
    assert templates and read.contents
    # The gateway's own serverInfo is dropped: the client sees the bridge as its server.
    assert (read.meta or {}).get("io.modelcontextprotocol/serverInfo", {}).get("name") == "gateway-connect"
    principals = {
        r.data["principal"]["subject"] for r in read_records(gateway.config.audit.database) if "principal" in r.data
    }
    assert principals == {"bridged"}


async def test_what_policy_hides_stays_hidden(gateway: RunningGateway, tmp_path: Path) -> None:
    async with Client(bridge(gateway, gateway.token("stranger", ()), tmp_path), cache=None) as client:
        # Only the gateway's own approval-status tool; none of the upstream's.
        assert {t.name for t in (await client.list_tools()).tools} == {"gateway.approval_status"}
        refused = await client.call_tool("conf.test_simple_text", {})
    assert refused.is_error


async def connect_alone(gateway: RunningGateway, env: dict[str, str]) -> tuple[int, str]:
    """The bridge started with nothing on stdin: it stops, saying why on stderr."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gateway.cli", "connect", "--url", gateway.url,
        env=env, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, stderr.decode()


async def test_refused_token_and_no_sign_in_say_why(gateway: RunningGateway, tmp_path: Path) -> None:
    # The MCP client sees the bridge hang up (the SDK may wrap that in an exception group).
    with pytest.raises((MCPError, BaseExceptionGroup)) as raised:
        async with Client(bridge(gateway, "not-a-jwt", tmp_path), cache=None) as client:
            await client.list_tools()
    assert "Connection closed" in repr(
        raised.value.exceptions if isinstance(raised.value, BaseExceptionGroup) else raised.value
    )
    env = {k: v for k, v in os.environ.items() if k != "GATEWAY_TOKEN"} | {"XDG_CONFIG_HOME": str(tmp_path / "c")}
    code, stderr = await connect_alone(gateway, {**env, "GATEWAY_TOKEN": "not-a-jwt"})
    assert code == 1 and "HTTP 401 from the gateway" in stderr and "not a well-formed JWT" in stderr, stderr
    code, stderr = await connect_alone(gateway, env)
    assert code == 1 and f"not signed in to {gateway.url}: run 'gateway login'" in stderr, stderr
