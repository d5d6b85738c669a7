"""#11 finding 3: `completion/complete` reached upstreams with no audit record and no
decision beyond visibility, even where the prompt it completes needs approval, and only
that path leaked the upstream's `_meta.serverInfo`. Subscriptions were decided but not
recorded like calls. Now every request an agent makes of an upstream is a call of its
kind through the one pipeline: decided, refused in the same words, audited in the same
records, counted in the same metrics."""

from __future__ import annotations

import httpx
import pytest
from mcp import MCPError
from starlette.applications import Starlette

from gateway.audit import read_records
from tests.attacks.conftest import agent
from tests.support.gateway import RunningGateway

POLICY = """\
p, tester, *, prompts/up.greet, allow, true, -
p, tester, *, prompts/up.transfer, approve, true, 1 finance-approver
p, tester, *, resources/up.ledger://today, allow, true, -
"""
PROMPT_REF = "ref/prompt"


def story(gw: RunningGateway, kind: str) -> list[tuple[str, dict]]:
    """(record kind, data) of every record of the requests of `kind`, in log order."""
    records = list(read_records(gw.config.audit.database))
    calls = {r.call_id for r in records if r.kind == "call.received" and r.data["kind"] == kind}
    return [(r.kind, dict(r.data)) for r in records if r.call_id in calls]


async def complete(client, prompt: str, value: str):
    return await client.complete({"type": PROMPT_REF, "name": prompt}, {"name": "iban", "value": value})


async def test_completion_of_a_prompt_that_needs_approval_is_refused_like_the_prompt(
    payments: tuple[RunningGateway, Starlette],
) -> None:
    gw, upstream = payments
    async with agent(gw, gw.token()) as client:
        with pytest.raises(MCPError) as completing:
            await complete(client, "up.transfer", "DE")
        with pytest.raises(MCPError) as getting:
            await client.get_prompt("up.transfer", {"iban": "DE89370400440532013000"})
    # Neither reached the upstream, and both say why in the same words.
    assert upstream.state.seen == []
    reason = "needs 1 approval by finance-approver (attack.csv:2)"
    assert completing.value.error.message == f"this call {reason}; a prompt_completion request cannot wait for approval"
    assert getting.value.error.message == f"this call {reason}; a prompt request cannot wait for approval"
    records = story(gw, "prompt_completion")
    assert [kind for kind, _ in records] == ["call.received", "call.decided"]
    assert records[0][1]["tool"] == "transfer"
    assert records[0][1]["arguments"] == {"argument": {"name": "iban", "value": "DE"}, "context": None}
    assert records[1][1]["effect"] == "approve" and records[1][1]["rule"] == "attack.csv:2"


async def test_completion_for_an_agent_without_a_rule_never_reaches_the_upstream(
    payments: tuple[RunningGateway, Starlette],
) -> None:
    gw, upstream = payments
    async with agent(gw, gw.token("stranger", roles=())) as client:
        with pytest.raises(MCPError) as refused:
            await complete(client, "up.greet", "D")
    assert upstream.state.seen == []
    assert refused.value.error.message == ("no rule allows 'stranger' to call prompts/up.greet: denied by default")
    records = story(gw, "prompt_completion")
    assert [kind for kind, _ in records] == ["call.received", "call.decided"]
    assert records[1][1]["effect"] == "deny"


@pytest.mark.parametrize("mode", ["legacy", "2026-07-28"])
async def test_allowed_completion_is_audited_like_a_call_and_hides_the_upstream(
    payments: tuple[RunningGateway, Starlette], mode: str
) -> None:
    gw, upstream = payments
    async with agent(gw, gw.token(), mode) as client:
        completed = await complete(client, "up.greet", "DE89")
        prompt = await client.get_prompt("up.greet", {"who": "ada"})
        ledger = await client.read_resource("ledger://today")
    assert completed.completion.values == ["DE89370400440532013000"]
    assert upstream.state.seen == [
        "completion/complete greet iban=DE89",
        "prompts/get greet",
        "resources/read ledger://today",
    ]
    # What the upstream says about itself is not passed off as the gateway's, on any path.
    for answer in (completed, prompt, ledger):
        server = (answer.meta or {}).get("io.modelcontextprotocol/serverInfo", {})
        assert server.get("name") in (None, "agent-gateway"), answer
    records = story(gw, "prompt_completion")
    assert [kind for kind, _ in records] == ["call.received", "call.decided", "call.forwarded", "call.completed"]
    assert records[1][1]["effect"] == "allow" and records[1][1]["rule"] == "attack.csv:1"
    assert records[3][1]["status"] == "ok" and records[3][1]["result_digest"]


async def test_subscriptions_are_decided_and_audited_like_calls(payments: tuple[RunningGateway, Starlette]) -> None:
    gw, upstream = payments
    async with agent(gw, gw.token("stranger", roles=())) as stranger:
        with pytest.raises(MCPError, match=r"no rule allows 'stranger' to call resources/up\.ledger://today"):
            await stranger.subscribe_resource("ledger://today")
    assert upstream.state.seen == []
    async with agent(gw, gw.token()) as client:
        await client.subscribe_resource("ledger://today")
        await client.unsubscribe_resource("ledger://today")
    assert upstream.state.seen == ["resources/subscribe ledger://today", "resources/unsubscribe ledger://today"]
    effects = [data["effect"] for kind, data in story(gw, "subscribe") if kind == "call.decided"]
    assert effects == ["deny", "allow"]
    outcomes = [
        data["status"] for kind, data in story(gw, "subscribe") + story(gw, "unsubscribe") if kind == "call.completed"
    ]
    assert outcomes == ["ok", "ok"]
    assert [kind for kind, _ in story(gw, "unsubscribe")] == [
        "call.received",
        "call.decided",
        "call.forwarded",
        "call.completed",
    ]


async def test_completions_are_counted_like_calls(payments: tuple[RunningGateway, Starlette]) -> None:
    gw, _ = payments
    async with agent(gw, gw.token()) as client:
        await complete(client, "up.greet", "D")
        with pytest.raises(MCPError):
            await complete(client, "up.transfer", "D")
    async with httpx.AsyncClient() as http:
        metrics = (await http.get(f"{gw.url}/metrics")).text
    labels = 'connector="prompts/up",decision="{}",outcome="{}",tool="*"'
    assert f"gateway_tool_calls_total{{{labels.format('allow', 'ok')}}} 1.0" in metrics
    assert f"gateway_tool_calls_total{{{labels.format('approve', 'approval_required')}}} 1.0" in metrics
