"""`gateway policy test --catalog`: cases are checked against the schemas of the tools they
name, read from a running gateway (#18: a shipped case passed arguments the tool refuses)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import httpx
from click.testing import CliRunner

from connectors.openapi.stub import create_app as helpdesk_app
from gateway.cli.policy import policy
from gateway.serving import running
from tests.support.gateway import GatewayFactory
from tests.support.policy_dirs import copy_shipped

STUB_TOKEN = "helpdesk-test-token"
BAD_CASE = """
  - name: a ticket without its body
    sub: support-bot
    roles: [support-agent]
    tool: helpdesk.createTicket
    args: {title: Printer jam}
    expect: allow
"""


async def test_cases_are_checked_against_the_live_catalog(
    start_gateway: GatewayFactory, echo_upstream, tmp_path: Path, monkeypatch
) -> None:
    monkeypatch.setenv("HELPDESK_CASES_TOKEN", STUB_TOKEN)
    async with running(helpdesk_app(token=STUB_TOKEN)) as helpdesk:
        connectors = {
            "helpdesk": {
                "kind": "openapi",
                "spec": f"{helpdesk}/openapi.json",
                "auth": {"kind": "bearer", "token": "${env:HELPDESK_CASES_TOKEN}"},
            },
            "echo": {"kind": "mcp", "url": echo_upstream[0]},
        }
        async with start_gateway(connectors) as gw:
            token = gw.token("policy-author", ("support-agent", "tester"))
            shipped = await asyncio.to_thread(
                CliRunner().invoke,
                policy,
                ["test", str(copy_shipped(tmp_path / "ok")), "--catalog", gw.url, "--token", token],
            )
            assert shipped.exit_code == 0, shipped.output
            # Connectors missing from the catalog (sap, oracle...) are not checked, and say so.
            assert "not checked against the catalog: connectors mainframe, oracle, sap" in shipped.output

            bad = copy_shipped(tmp_path / "bad")
            (bad / "cases.yaml").write_text((bad / "cases.yaml").read_text() + BAD_CASE)
            result = await asyncio.to_thread(
                CliRunner().invoke, policy, ["test", str(bad), "--catalog", gw.url, "--token", token]
            )
            assert result.exit_code == 1, result.output
            assert (
                "'a ticket without its body': the tool would refuse these arguments: invalid argument body"
                in result.output
            )

            # The same from a saved catalog file, and a tool name typo is caught there too.
            listing = tmp_path / "tools.json"
            async with httpx.AsyncClient() as http:
                body = (await http.get(f"{gw.url}/v1/tools", headers={"Authorization": f"Bearer {token}"})).json()
            listing.write_text(json.dumps(body))
            (bad / "cases.yaml").write_text(
                (bad / "cases.yaml")
                .read_text()
                .replace(
                    "tool: helpdesk.createTicket\n    args: {title", "tool: helpdesk.createTikcet\n    args: {title"
                )
            )
            typo = CliRunner().invoke(policy, ["test", str(bad), "--catalog", str(listing)])
            assert "tool helpdesk.createTikcet is not in the catalog" in typo.output


def test_an_unreadable_catalog_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        policy, ["test", str(copy_shipped(tmp_path / "p")), "--catalog", str(tmp_path / "none.json")]
    )
    assert result.exit_code == 2
    assert "cannot read the catalog" in result.output
