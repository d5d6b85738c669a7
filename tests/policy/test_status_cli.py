"""`gateway policy status` and `reload` against a running gateway (GET /v1/admin/policy)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from click.testing import CliRunner, Result

from gateway.cli.policy import policy
from tests.support.gateway import RunningGateway


async def _cli(*args: str) -> Result:
    # The CLI blocks on HTTP: run it beside the event loop that serves the gateway.
    return await asyncio.to_thread(CliRunner().invoke, policy, list(args))


async def test_status_and_reload_from_the_command_line(echo_gateway: RunningGateway, policy_dir: Path) -> None:
    admin = echo_gateway.token("oncall", ("gateway-admin",))
    remote = ("--url", echo_gateway.mcp_url, "--token", admin)  # the /mcp URL works as well as the base URL
    version = echo_gateway.gateway.policy.current.version

    status = await _cli("status", *remote)
    assert status.exit_code == 0, status.output
    assert f"policy   {version}" in status.output
    assert "reload   none since start" in status.output

    (policy_dir / "policy.csv").write_text((policy_dir / "policy.csv").read_text() + "p, tester, *, echo.x, allow\n")
    refused = await _cli("reload", *remote)
    assert refused.exit_code == 1
    assert f"refused, policy {version[:12]} stays in force" in refused.output
    assert "p row has 4 columns" in refused.output

    status = await _cli("status", *remote)
    assert "REFUSED, the policy above stays in force" in status.output

    async with httpx.AsyncClient() as http:
        api = await http.get(f"{echo_gateway.url}/v1/admin/policy", headers={"Authorization": f"Bearer {admin}"})
        assert api.json()["last_reload"]["ok"] is False
        agent = echo_gateway.token("agent", ("tester",))
        forbidden = await http.get(f"{echo_gateway.url}/v1/admin/policy", headers={"Authorization": f"Bearer {agent}"})
        assert forbidden.status_code == 403
        assert (await http.get(f"{echo_gateway.url}/v1/admin/policy")).status_code == 401


async def test_status_without_the_admin_role_says_why(echo_gateway: RunningGateway) -> None:
    result = await _cli("status", "--url", echo_gateway.url, "--token", echo_gateway.token("agent", ("tester",)))
    assert result.exit_code == 1
    assert "403" in result.output and "gateway-admin" in result.output
