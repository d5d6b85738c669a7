"""Editing policy under a running gateway: the next call sees a good edit, a broken edit
changes nothing, and every reload is audited and counted."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx

from gateway.audit import read_records
from gateway.mcp.client import connect
from tests.support.gateway import RunningGateway

FORBIDDEN_WORD = (
    "\n# Testers may not echo the forbidden word.\np, tester, *, echo.echo, deny, r.args.text == 'forbidden', -\n"
)


async def _echo(gw: RunningGateway) -> str:
    async with connect(gw.mcp_url, gw.token()) as client:
        result = await client.call_tool("echo.echo", {"text": "forbidden"})
    return result.content[0].text


async def _wait_for(predicate, seconds: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not await predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def _reload_events(gw: RunningGateway) -> list[str]:
    return [r.kind for r in read_records(gw.config.audit.database) if r.kind.startswith("policy.")]


async def test_file_edits_are_picked_up_and_broken_edits_change_nothing(
    echo_upstream, start_gateway, policy_dir
) -> None:
    url, _ = echo_upstream
    policy_file = policy_dir / "policy.csv"
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, policy={"watch": True}) as gw:
        assert await _echo(gw) == "forbidden"
        good = policy_file.read_text() + FORBIDDEN_WORD
        policy_file.write_text(good)

        async def denied() -> bool:
            return "denied by policy.csv" in await _echo(gw)

        await _wait_for(denied)
        assert _reload_events(gw) == ["policy.reloaded"]

        # A row with the wrong number of columns: refused, the last good policy keeps running.
        policy_file.write_text(good + "p, tester, *, echo.add, allow\n")
        await _wait_for(lambda: _async(_reload_events(gw) == ["policy.reloaded", "policy.reload_failed"]))
        assert "denied by policy.csv" in await _echo(gw)
        failed = [r for r in read_records(gw.config.audit.database) if r.kind == "policy.reload_failed"][-1]
        assert "policy.csv" in failed.data["error"]
        assert failed.data["files"]["policy.csv"]  # the hash of the refused file
        metrics = await gw.scrape()
        assert 'gateway_policy_reloads_total{result="failure"} 1.0' in metrics
        assert 'gateway_policy_reloads_total{result="success"} 1.0' in metrics


async def _async(value: bool) -> bool:
    return value


async def test_admin_endpoint_reloads_for_admins_only(echo_upstream, start_gateway, policy_dir: Path) -> None:
    url, _ = echo_upstream
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}) as gw:
        (policy_dir / "policy.csv").write_text((policy_dir / "policy.csv").read_text() + FORBIDDEN_WORD)
        endpoint = f"{gw.url}/v1/admin/policy/reload"
        async with httpx.AsyncClient() as http:
            anonymous = await http.post(endpoint)
            agent = await http.post(endpoint, headers={"Authorization": f"Bearer {gw.token()}"})
            assert await _echo(gw) == "forbidden"  # watching is off in tests: nothing changed yet
            admin = await http.post(
                endpoint, headers={"Authorization": f"Bearer {gw.token('ops', roles=('gateway-admin',))}"}
            )
        assert anonymous.status_code == 401
        assert agent.status_code == 403 and "gateway-admin" in agent.json()["detail"]
        assert admin.status_code == 200 and admin.json()["changed"] is True
        assert "denied by policy.csv" in await _echo(gw)
        events = [r for r in read_records(gw.config.audit.database) if r.kind == "policy.reloaded"]
        assert events[-1].data["trigger"] == "admin endpoint (ops)"


async def test_sighup_reloads_a_served_gateway_and_sigterm_stops_it(echo_upstream, tmp_path, policy_dir) -> None:
    import signal
    import sys

    from gateway.serving import free_port
    from tests.support.gateway import REPO, SECRET

    url, _ = echo_upstream
    port = free_port()
    database = tmp_path / "served.db"
    config = tmp_path / "served.yaml"
    (tmp_path / "identity.secret").write_text(SECRET)
    config.write_text(
        f"server: {{port: {port}}}\nidentity: {{secret: '${{file:identity.secret}}'}}\n"
        f"policy: {{directory: {policy_dir}, watch: false}}\naudit: {{database: {database}}}\n"
        "approvals: {approver_roles: [approver, finance-approver, hr-approver, supervisor, support-supervisor]}\n"
        f"connectors: {{echo: {{kind: mcp, url: '{url}'}}}}\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "gateway.cli",
        "serve",
        "--config",
        str(config),
        cwd=str(REPO),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        async with httpx.AsyncClient() as http:

            async def up() -> bool:
                try:
                    return (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
                except httpx.TransportError:
                    return False

            await _wait_for(up, 30)
        (policy_dir / "policy.csv").write_text((policy_dir / "policy.csv").read_text() + FORBIDDEN_WORD)
        process.send_signal(signal.SIGHUP)

        async def reloaded() -> bool:
            return any(r.kind == "policy.reloaded" for r in read_records(database))

        await _wait_for(reloaded)
        reload = next(r for r in read_records(database) if r.kind == "policy.reloaded")
        assert reload.data["trigger"] == "SIGHUP"
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 15) == 0
        assert [r.kind for r in read_records(database)][-1] == "gateway.stopped"
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
