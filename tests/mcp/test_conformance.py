"""The official MCP conformance suite and MCP Inspector against the gateway.

The suite runs against an upstream SDK server that provides its test tools, resources
and prompts (connectors/mcp/conformance_stub.py), once directly and once through the
gateway (with a policy allowing them): every scenario that passes directly must pass
through the gateway, except those listed in GATEWAY_GAPS with the reason.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from pathlib import Path

import pytest

from gateway.approvals.mcp_agent import STATUS_TOOL
from gateway.serving import running
from tests.support import conformance_stub
from tests.support.auth_proxy import auth_proxy
from tests.support.gateway import GatewayFactory
from tests.support.node_tools import NodeTools

#: Scenarios that pass against the upstream but not through the gateway, and why.
#: Keep in step with docs/frontdoors.md; a gap that closes makes the test fail until removed.
GATEWAY_GAPS: dict[str, str] = {}

CONFORMANCE_POLICY = """\
# The conformance suite's upstream: every tool, prompt and resource, for testers.
p, tester, *, conf.*, allow, true, -
p, tester, *, prompts/conf.*, allow, true, -
p, tester, *, resources/conf.test://*, allow, true, -
p, tester, *, resources/conf.test://*/*/*, allow, true, -
p, tester, *, sampling/conf.*, allow, true, -
p, tester, *, elicitation/conf.*, allow, true, -
"""
_RESULT = re.compile(r"^[✓✗] (\S+): (\d+) passed, (\d+) failed", re.MULTILINE)
SUITE_TIMEOUT_SECONDS = 240


async def run_node(tools: NodeTools, *args: str, cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        str(tools.node),
        *args,
        cwd=cwd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        env={**os.environ, "HOME": str(cwd)},  # the Inspector writes ~/.mcp-inspector
    )
    try:
        async with asyncio.timeout(SUITE_TIMEOUT_SECONDS):
            out, _ = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    return process.returncode or 0, out.decode(errors="replace")


async def conformance(tools: NodeTools, url: str, cwd: Path) -> dict[str, bool]:
    """Scenario name -> passed, for the active server suite against `url`."""
    _, out = await run_node(tools, str(tools.conformance), "server", "--url", url, cwd=cwd)
    results = {name: int(failed) == 0 for name, _, failed in _RESULT.findall(out)}
    assert results, f"no scenario results in the suite's output:\n{out[-3000:]}"
    return results


@pytest.fixture
async def conformance_gateway(start_gateway: GatewayFactory, policy_dir: Path):
    (policy_dir / "conformance.csv").write_text(CONFORMANCE_POLICY)
    async with running(conformance_stub.create_app()) as upstream:
        # The 2025 protocol upstream: 2026-07-28 has no back-channel (sampling, elicitation)
        # and no resources/subscribe.
        connectors = {"conf": {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 10, "protocol": "legacy"}}
        async with start_gateway(connectors, frontdoors={"unprefixed_connector": "conf"}) as gw:
            yield upstream, gw


async def test_every_scenario_passing_upstream_passes_through_the_gateway(
    node_tools: NodeTools, conformance_gateway, tmp_path: Path
) -> None:
    upstream, gw = conformance_gateway
    # The suite sends no token: a proxy adds the agent's, and passes Host and Origin as sent.
    async with running(auth_proxy(gw.url, gw.token("conformance", ("tester",)))) as proxy:
        direct, through = await asyncio.gather(
            conformance(node_tools, f"{upstream.replace('127.0.0.1', 'localhost')}/mcp", tmp_path),
            conformance(node_tools, f"{proxy.replace('127.0.0.1', 'localhost')}/mcp", tmp_path),
        )
    passing_directly = {name for name, ok in direct.items() if ok}
    assert len(passing_directly) >= 30, f"the upstream stub itself fails: {sorted(set(direct) - passing_directly)}"
    broken = sorted(name for name in passing_directly if not through.get(name) and name not in GATEWAY_GAPS)
    assert not broken, f"pass directly but fail through the gateway: {broken}"
    closed = sorted(name for name in GATEWAY_GAPS if through.get(name))
    assert not closed, f"listed as gaps but pass now (remove from GATEWAY_GAPS and docs): {closed}"


async def test_inspector_cli_lists_and_calls_tools_through_the_gateway(
    node_tools: NodeTools, echo_gateway, tmp_path: Path
) -> None:
    auth = f"Authorization: Bearer {echo_gateway.token()}"
    base = [str(node_tools.inspector), "--cli", echo_gateway.mcp_url, "--transport", "http", "--header", auth]
    code, listed = await run_node(node_tools, *base, "--method", "tools/list", cwd=tmp_path)
    assert code == 0, listed
    assert {"echo.echo", "echo.add", "echo.sleep"} <= {t["name"] for t in json.loads(listed)["tools"]}
    code, called = await run_node(
        node_tools, *base, "--method", "tools/call", "--tool-name", "echo.add", "--tool-arg", "a=2", "b=3", cwd=tmp_path
    )
    assert code == 0, called
    assert json.loads(called)["content"][0]["text"] == "5"
    # Governance shows through the Inspector too: a caller whose roles allow nothing sees nothing.
    reader = [*base[:-1], f"Authorization: Bearer {echo_gateway.token('reader', ('agent-readonly',))}"]
    code, narrow = await run_node(node_tools, *reader, "--method", "tools/list", cwd=tmp_path)
    assert code == 0, narrow
    # A caller without tool rules sees only the gateway's own approval-status tool.
    assert [t["name"] for t in json.loads(narrow)["tools"]] == [STATUS_TOOL]
