"""Shadow policy end to end: a candidate decides live calls beside the active policy, the
differences are counted and reported, nothing changes for the agent until promotion."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

from click.testing import CliRunner

from gateway.cli.main import main
from gateway.mcp.client import connect
from tests.support.gateway import RunningGateway
from tests.support.incident import admin, records

STRICTER = "\n# Testers may no longer add large numbers.\np, tester, *, echo.add, deny, r.args.a > 100, -\n"


def _candidate(policy_dir: Path, tmp_path: Path, extra: str = STRICTER) -> Path:
    candidate = tmp_path / "candidate"
    shutil.copytree(policy_dir, candidate)
    with (candidate / "policy.csv").open("a") as f:
        f.write(extra)
    return candidate


def _rule_line(candidate: Path) -> str:
    lines = (candidate / "policy.csv").read_text().splitlines()
    return f"policy.csv:{lines.index('p, tester, *, echo.add, deny, r.args.a > 100, -') + 1}"


async def test_the_candidate_decides_beside_the_active_policy_and_is_promoted(
    echo_gateway: RunningGateway, policy_dir: Path, tmp_path: Path
) -> None:
    gw = echo_gateway
    candidate = _candidate(policy_dir, tmp_path)
    loaded = await admin(gw, "POST", "/v1/admin/policy/shadow", json={"directory": str(candidate)})
    assert loaded.status_code == 201, loaded.text
    async with connect(gw.mcp_url, gw.token("agent-1")) as client:
        added = await client.call_tool("echo.add", {"a": 1000, "b": 2})
        echoed = await client.call_tool("echo.echo", {"text": "same under both"})
        assert not added.is_error and not echoed.is_error  # the shadow enforces nothing
        report = (await admin(gw, "GET", "/v1/admin/policy/shadow")).json()["shadow"]
        assert report["evaluated"] == 2 and report["changed"] == 1 and report["by_change"] == {"allow->deny": 1}
        (difference,) = report["differences"]
        assert difference["tool"] == "echo.add" and difference["agent"] == "agent-1"
        assert difference["active"]["effect"] == "allow" and difference["candidate"]["rule"] == _rule_line(candidate)
        metric = gw.gateway.shadow.decisions_changed.labels(_rule_line(candidate), "allow->deny")._value.get()
        assert metric == 1
        promoted = await admin(gw, "POST", "/v1/admin/policy/promote")
        assert promoted.status_code == 200, promoted.text
        refused = await client.call_tool("echo.add", {"a": 1000, "b": 2})
        assert refused.is_error and "Testers may no longer add large numbers" in refused.content[0].text
    assert (await admin(gw, "GET", "/v1/admin/policy/shadow")).status_code == 404
    assert STRICTER.strip() in (policy_dir / "policy.csv").read_text()
    log = await records(gw)
    kinds = [r.kind for r in log if r.kind.startswith("policy.")]
    assert kinds == ["policy.shadow_loaded", "policy.reloaded"]
    reloaded = next(r for r in log if r.kind == "policy.reloaded")
    assert reloaded.data["trigger"] == "promote of the shadow policy by oncall"


async def test_a_bad_or_changed_candidate_is_refused(
    echo_gateway: RunningGateway, policy_dir: Path, tmp_path: Path
) -> None:
    gw = echo_gateway
    broken = _candidate(policy_dir, tmp_path, "\np, tester, *, echo.add, sometimes, true, -\n")
    refused = await admin(gw, "POST", "/v1/admin/policy/shadow", json={"directory": str(broken)})
    assert refused.status_code == 422 and "policy.csv" in refused.json()["detail"]
    missing = await admin(gw, "POST", "/v1/admin/policy/shadow", json={"directory": str(tmp_path / "nope")})
    assert missing.status_code == 422
    assert (await admin(gw, "POST", "/v1/admin/policy/promote")).status_code == 409
    shutil.rmtree(broken)
    candidate = _candidate(policy_dir, tmp_path)
    assert (await admin(gw, "POST", "/v1/admin/policy/shadow", json={"directory": str(candidate)})).status_code == 201
    with (candidate / "policy.csv").open("a") as f:
        f.write("\n# Sneaked in after review.\np, *, *, *, allow, true, -\n")
    changed = await admin(gw, "POST", "/v1/admin/policy/promote")
    assert changed.status_code == 409 and "changed since they were loaded" in changed.json()["detail"]
    assert "Sneaked" not in (policy_dir / "policy.csv").read_text()
    agent = await admin(gw, "GET", "/v1/admin/policy/shadow", who=("agent-1", ("tester",)))
    assert agent.status_code == 403


async def test_cli(echo_gateway: RunningGateway, policy_dir: Path, tmp_path: Path) -> None:
    gw = echo_gateway
    candidate = _candidate(policy_dir, tmp_path)
    common = ["--url", gw.url, "--token", gw.token("oncall", ("gateway-admin",))]

    def cli(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(main, [*args, *common])
        return result.exit_code, result.output

    assert (await asyncio.to_thread(cli, "policy", "shadow", str(candidate)))[0] == 0
    async with connect(gw.mcp_url, gw.token("agent-1")) as client:
        await client.call_tool("echo.add", {"a": 1000, "b": 2})
    code, report = await asyncio.to_thread(cli, "policy", "shadow", "report")
    assert code == 0 and "1 calls decided, 1 differently" in report and "allow->deny" in report
    assert f"agent-1 echo.add: allow->deny by {_rule_line(candidate)}" in report
    code, promoted = await asyncio.to_thread(cli, "policy", "promote")
    assert code == 0 and "promoted" in promoted
