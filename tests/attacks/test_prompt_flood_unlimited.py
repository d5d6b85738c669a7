"""#12: prompt gets, resource reads and completions skipped the rate-limit stage (only
tool calls took tokens), so an agent held to a few calls per second could read an
upstream as fast as it liked. Now every request takes the same stage: the agent's bucket
empties, and the refusal is worded, audited and counted as a tool call's."""

from __future__ import annotations

import pytest
from mcp import MCPError
from starlette.applications import Starlette

from gateway.audit import read_records
from tests.attacks.conftest import agent
from tests.support.gateway import RunningGateway

POLICY = """\
p, tester, *, prompts/up.*, allow, true, -
p, tester, *, resources/up.ledger://today, allow, true, -
"""
GATEWAY_SECTIONS = {"limits": {"rules": [{"per": "agent", "rate_per_second": 0.01, "burst": 3}]}}


async def test_reads_and_completions_empty_the_agents_bucket(payments: tuple[RunningGateway, Starlette]) -> None:
    gw, upstream = payments
    async with agent(gw, gw.token()) as client:
        await client.get_prompt("up.greet", {"who": "ada"})
        await client.read_resource("ledger://today")
        await client.complete({"type": "ref/prompt", "name": "up.greet"}, {"name": "who", "value": "a"})
        with pytest.raises(MCPError, match=r"^rate limit: agent 'agent-1' may make 0\.01 calls per second"):
            await client.get_prompt("up.greet", {"who": "bob"})
    assert len(upstream.state.seen) == 3
    rejected = [r.data for r in read_records(gw.config.audit.database) if r.kind == "call.rejected"]
    assert [r["stage"] for r in rejected] == ["rate_limit"]
