"""Every connector of issue 6 behind the gateway, called with the official MCP SDK client:
allowed calls reach the stub, bad arguments and denied calls never do, a hung backend gives
the agent a clear error quickly."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.applications import Starlette

from connectors.mainframe.stub import MainframeStub, serve_mainframe
from connectors.openapi.stub import create_app as helpdesk_app
from connectors.oracle.stub import create_app as ords_app
from connectors.stubkit import serve_app
from gateway.mcp.client import connect
from tests.support.gateway import GatewayFactory, RunningGateway

POLICY = """\
# Salaries change only with approval; in this test nobody may change them.
p, *, *, hr.update_salary, deny, true, -
# The rest is open to the test agent.
p, tester, *, hr.*, allow, true, -
p, tester, *, mainframe.*, allow, true, -
p, tester, *, helpdesk.*, allow, true, -
p, tester, *, local.*, allow, true, -
"""


@dataclass
class Backends:
    ords: Starlette
    helpdesk: Starlette
    mainframe: MainframeStub
    gateway: RunningGateway

    async def call(self, tool: str, arguments: dict[str, Any]) -> tuple[bool, str, dict[str, Any] | None]:
        async with connect(self.gateway.mcp_url, self.gateway.token("agent-7", roles=("tester",))) as client:
            result = await client.call_tool(tool, arguments)
        return result.is_error, result.content[0].text, result.structured_content


@pytest.fixture
async def backends(tmp_path: Path, policy_dir: Path, start_gateway: GatewayFactory) -> AsyncIterator[Backends]:
    (policy_dir / "policy.csv").write_text(POLICY)
    (policy_dir / "cases.yaml").unlink(missing_ok=True)
    async with AsyncExitStack() as stack:
        ords = ords_app(tmp_path / "hr.db", client_secret="ords-secret")
        ords_url = await stack.enter_async_context(serve_app(ords))
        helpdesk = helpdesk_app(token="desk-token")
        helpdesk_url = await stack.enter_async_context(serve_app(helpdesk))
        mainframe = await stack.enter_async_context(serve_mainframe(password="mf-pw"))
        stanzas = {
            "hr": {
                "kind": "oracle",
                "url": ords_url + "/ords/hr",
                "auth": {"kind": "oauth_client_credentials", "client_id": "gateway", "client_secret": "ords-secret"},
                "on_behalf_of_header": "x-on-behalf-of",
                "timeout_seconds": 5,
            },
            "helpdesk": {
                "kind": "openapi",
                "spec": helpdesk_url + "/openapi.json",
                "auth": {"kind": "bearer", "token": "desk-token"},
                "timeout_seconds": 0.5,
                "retries": 0,
            },
            "mainframe": {
                "kind": "mainframe",
                "host": "127.0.0.1",
                "port": mainframe.port,
                "auth": {"kind": "basic", "username": "GATEWAY", "password": "mf-pw"},
                "timeout_seconds": 5,
            },
            "local": {
                "kind": "mcp",
                "command": [sys.executable, "-m", "connectors.mcp.stdio_stub"],
                "timeout_seconds": 5,
            },
        }
        gateway = await stack.enter_async_context(start_gateway(stanzas))
        yield Backends(ords, helpdesk, mainframe, gateway)


async def test_every_connector_through_the_gateway(backends: Backends) -> None:
    async with connect(backends.gateway.mcp_url, backends.gateway.token("agent-7", roles=("tester",))) as client:
        names = {t.name for t in (await client.list_tools()).tools}
    assert {
        "hr.query",
        "hr.search_employees",
        "mainframe.funds_transfer",
        "helpdesk.createTicket",
        "local.echo",
    } <= names

    failed, _, employee = await backends.call("hr.get_employee", {"employee_id": 100})
    assert not failed and employee is not None and employee["employee"]["last_name"] == "King"
    failed, _, rows = await backends.call(
        "hr.query", {"sql": "SELECT count(*) AS n FROM orders WHERE status = :s", "params": {"s": "PENDING"}}
    )
    assert not failed and rows == {"columns": ["n"], "rows": [{"n": 3}], "has_more": False}

    failed, _, account = await backends.call("mainframe.account_inquiry", {"account_number": 1000000002})
    assert not failed and account is not None and account["balance"] == "-420.10"
    failed, _, transfer = await backends.call(
        "mainframe.funds_transfer",
        {"from_account": 1000000001, "to_account": 1000000004, "amount": 99.99, "reference": "E2E"},
    )
    assert not failed and transfer is not None and transfer["to_balance"] == "99.99"

    failed, _, ticket = await backends.call("helpdesk.createTicket", {"body": {"title": "Gateway test"}})
    assert not failed and ticket is not None and ticket["status"] == "open"
    failed, _, echoed = await backends.call("local.echo", {"text": "stdio"})
    assert not failed and echoed == {"text": "stdio"}


async def test_refused_calls_never_reach_the_backend(backends: Backends) -> None:
    # Bad arguments: the schema derived from the copybook refuses them before the policy.
    failed, text, _ = await backends.call(
        "mainframe.funds_transfer",
        {"from_account": 1000000001, "to_account": 1000000004, "amount": 1, "reference": "x" * 17},
    )
    assert failed and "reference" in text
    assert backends.mainframe.requests == []

    # An injection attempt through the query tool: refused by the connector's guard.
    failed, text, _ = await backends.call("hr.query", {"sql": "SELECT 1; DELETE FROM employees"})
    assert failed and "only a single statement is allowed" in text

    # Denied by policy.
    failed, text, _ = await backends.call("hr.update_salary", {"employee_id": 104, "salary": 7000})
    assert failed
    assert not [r for r in backends.ords.state.requests if r.path.endswith(("/_/sql", "/salary"))]


async def test_hung_backend_answers_the_agent_quickly(backends: Backends) -> None:
    backends.helpdesk.state.faults.hang = True
    async with asyncio.timeout(5):
        failed, text, _ = await backends.call("helpdesk.getTicket", {"ticket_id": 1})
    assert failed and "did not answer within 0.5 s" in text
