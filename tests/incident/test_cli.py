"""`gateway agents suspend|resume|list` against a running gateway."""

from __future__ import annotations

import asyncio

from click.testing import CliRunner

from gateway.cli.main import main
from gateway.mcp.client import connect
from tests.support.gateway import RunningGateway


async def test_suspend_list_resume(echo_gateway: RunningGateway) -> None:
    gw = echo_gateway
    common = ["--url", gw.url, "--token", gw.token("oncall", ("gateway-admin",))]

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, ["agents", *args, *common])
        return result.exit_code, result.output

    code, out = await asyncio.to_thread(cli, "suspend", "agent-1", "--tenant", "acme", "--reason", "loop on orders")
    assert code == 0 and "subject agent-1 (tenant acme)  active" in out and "loop on orders" in out
    code, out = await asyncio.to_thread(cli, "suspend", "--client", "buyer-app", "--reason", "bad release")
    assert code == 0, out
    code, listed = await asyncio.to_thread(cli, "list", "--suspended")
    assert code == 0 and len(listed.splitlines()) == 2
    async with connect(gw.mcp_url, gw.token("agent-1", ("tester",), tenant="acme")) as client:
        assert (await client.call_tool("echo.echo", {"text": "x"})).is_error
        code, out = await asyncio.to_thread(cli, "resume", "agent-1", "--tenant", "acme", "--reason", "fixed")
        assert code == 0 and "resumed by oncall" in out
        assert not (await client.call_tool("echo.echo", {"text": "x"})).is_error
    code, out = await asyncio.to_thread(cli, "resume", "agent-1", "--reason", "again")
    assert code == 1 and "no active suspension of that target" in out
    code, out = await asyncio.to_thread(cli, "suspend", "agent-1", "--all", "--reason", "x")
    assert code == 2 and "name one target" in out
    code, out = await asyncio.to_thread(cli, "suspend", "--reason", "x")
    assert code == 2 and "name a target" in out
    code, history = await asyncio.to_thread(cli, "list", "--all")
    assert code == 0 and "resumed by oncall" in history and len(history.splitlines()) == 2
    agent_token = gw.token("a", ("tester",))
    everything = await asyncio.to_thread(
        CliRunner().invoke,
        main,
        ["agents", "suspend", "--all", "--reason", "x", "--url", gw.url, "--token", agent_token],
    )
    assert everything.exit_code == 1 and "403" in everything.output
