"""#12: prompt gets and resource reads reached upstreams through `unwrap()`, past the
deadline, the concurrency limit and the circuit breaker every connector promises, so a
hung upstream held an agent's prompt get for the session's read timeout (minutes) and
never opened the circuit. Now they go through the connector's resilience wrapper like a
tool call: the deadline refuses them, and their failures open the circuit that then
refuses the connector's tools as well."""

from __future__ import annotations

import pytest
from mcp import MCPError
from starlette.applications import Starlette

from gateway.audit import read_records
from tests.attacks.conftest import agent
from tests.support.gateway import RunningGateway

POLICY = """\
p, tester, *, prompts/up.*, allow, true, -
p, tester, *, up.noop, allow, true, -
"""
CONNECTOR_OPTIONS = {
    "timeout_seconds": 0.5,
    "retries": 0,
    "circuit_failure_threshold": 2,
    "circuit_reset_seconds": 600,
}


async def test_a_hung_prompt_get_meets_the_deadline_and_opens_the_circuit(
    payments: tuple[RunningGateway, Starlette],
) -> None:
    gw, upstream = payments
    async with agent(gw, gw.token()) as client:
        for _ in range(2):
            with pytest.raises(MCPError) as hung:
                await client.get_prompt("up.hang")
            assert hung.value.error.message == "backend 'up' did not answer within 0.5 s"
        # Two failures in a row: the circuit is open for every request to that backend.
        with pytest.raises(MCPError) as prompt:
            await client.get_prompt("up.greet", {"who": "ada"})
        tool = await client.call_tool("up.noop", {})
    assert "circuit open after repeated failures" in prompt.value.error.message
    assert tool.is_error and "circuit open after repeated failures" in tool.content[0].text
    # Neither reached the upstream.
    assert upstream.state.seen == ["prompts/get hang", "prompts/get hang"]
    outcomes = [r.data for r in read_records(gw.config.audit.database) if r.kind == "call.completed"]
    assert [o["status"] for o in outcomes] == ["error"] * 4
    assert outcomes[0]["error"] == "backend 'up' did not answer within 0.5 s"
