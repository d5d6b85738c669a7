"""Result rules end to end: the gateway with the shipped policy in front of the SAP and
Oracle stubs, called with the MCP SDK client and real JWTs; what the agent gets and what
the audit log says about it."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.oracle import stub as oracle_stub
from connectors.sap import stub as sap_stub
from gateway.audit import read_records
from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.mcp.client import connect
from gateway.serving import running
from tests.support.gateway import GatewayFactory, RunningGateway

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
IBAN = "DE89370400440532013000"


@pytest.fixture
async def gateway(tmp_path: Path, start_gateway: GatewayFactory) -> AsyncIterator[RunningGateway]:
    sap = sap_stub.create_app(username="gateway", password="s3cret")
    ords = oracle_stub.create_app(tmp_path / "hr.db", client_secret="c-secret")
    async with running(sap) as sap_url, running(ords) as ords_url:
        basic = {"kind": "basic", "username": "gateway", "password": "s3cret"}
        oauth = {"kind": "oauth_client_credentials", "client_id": "gateway", "client_secret": "c-secret"}
        connectors = {
            "sap": {"kind": "sap", "url": sap_url + SERVICE, "auth": basic},
            "oracle": {"kind": "oracle", "url": ords_url + "/ords/hr", "auth": oauth},
        }
        async with start_gateway(connectors) as gw:
            yield gw


def _completed(gw: RunningGateway) -> list[dict]:
    return [dict(r.data) for r in read_records(gw.config.audit.database) if r.kind == "call.completed"]


async def _call(gw: RunningGateway, subject: str, role: str, tool: str, arguments: dict):
    async with connect(gw.mcp_url, gw.token(subject, roles=(role,))) as client:
        return await client.call_tool(tool, arguments)


async def test_agents_get_vendors_without_bank_details_and_finance_gets_them(gateway: RunningGateway) -> None:
    masked = await _call(gateway, "buyer-bot", "procurement-agent", "sap.search_vendors", {"country": "DE"})
    plain = await _call(gateway, "ap-bot", "finance-agent", "sap.search_vendors", {"country": "DE"})
    assert not masked.is_error and not plain.is_error
    # Both views the agent has, structured content and the JSON text, are redacted.
    vendors = masked.structured_content["vendors"]
    assert [v["IBAN"] for v in vendors] == ["[REDACTED]", "[REDACTED]"]
    assert {v["BankAccount"] for v in vendors} == {v["TaxNumber1"] for v in vendors} == {"[REDACTED]"}
    assert json.loads(masked.content[0].text) == masked.structured_content
    assert IBAN not in masked.content[0].text and "0532013000" not in masked.content[0].text
    assert vendors[0]["SupplierName"] == "Acme Industrial Supplies"
    assert plain.structured_content["vendors"][0]["IBAN"] == IBAN

    agent_record, finance_record = _completed(gateway)
    assert agent_record["result_rules"] == ["results.csv:9", "results.csv:11", "results.csv:19", "results.csv:21"]
    assert agent_record["redacted"] == {"**.IBAN": 2, "**.BankAccount": 2, "**.TaxNumber1": 2}
    # The digest of what the agent got differs from the backend's, and matches the delivered content.
    delivered = [block.model_dump(exclude_none=True) for block in masked.content]
    assert agent_record["delivered_digest"] == sha256_hex(canonical_json(delivered))
    assert agent_record["delivered_digest"] != agent_record["result_digest"]
    assert finance_record["result_rules"] == ["results.csv:19", "results.csv:21"]
    assert finance_record["delivered_digest"] == finance_record["result_digest"]
    assert "redacted" not in finance_record
    # No value that was redacted reaches the audit log either.
    database = Path(gateway.config.audit.database).read_bytes()
    assert IBAN.encode() not in database and b"27/273/01234" not in database


async def test_salaries_are_redacted_for_everyone_but_hr(gateway: RunningGateway) -> None:
    sql = {"sql": "select employee_id, last_name, salary from employees where employee_id = 100"}
    finance = await _call(gateway, "analyst-bot", "finance-agent", "oracle.query", sql)
    hr = await _call(gateway, "hr-bot", "hr-agent", "oracle.get_employee", {"employee_id": 100})
    assert finance.structured_content["rows"] == [{"employee_id": 100, "last_name": "King", "salary": "[REDACTED]"}]
    assert "24000" not in finance.content[0].text
    assert hr.structured_content["employee"]["salary"] == 24000
    finance_record, hr_record = _completed(gateway)
    assert finance_record["redacted"] == {"**.salary": 1}
    assert "results.csv:13" not in hr_record["result_rules"]


async def test_a_deny_rule_withholds_the_result_and_names_itself(gateway: RunningGateway, policy_dir: Path) -> None:
    with (policy_dir / "results.csv").open("a") as rules:
        rules.write(
            "# Blocked vendors are nobody's business.\nresult, vendor-bot, *, sap.search_vendors, deny, /Umbrella/, -\n"
        )
    line = (policy_dir / "results.csv").read_text().count("\n")
    assert gateway.gateway.policy.reload().ok
    refused = await _call(gateway, "vendor-bot", "finance-agent", "sap.search_vendors", {"country": "CH"})
    allowed = await _call(gateway, "vendor-bot", "finance-agent", "sap.search_vendors", {"country": "DE"})
    assert refused.is_error
    purpose = "Blocked vendors are nobody's business."
    assert refused.content[0].text.endswith(
        f"the result was withheld by results.csv:{line}: {purpose} (it matches the rule's pattern)"
    )
    assert "Basel" not in refused.content[0].text
    assert not allowed.is_error
    withheld, _ = _completed(gateway)
    assert withheld["withheld"].startswith(f"the result was withheld by results.csv:{line}")
    assert withheld.get("delivered_digest") is None


async def test_the_rest_front_door_delivers_the_same_governed_result(gateway: RunningGateway, policy_dir: Path) -> None:
    with (policy_dir / "results.csv").open("a") as rules:
        rules.write("# Swiss vendors stay private.\nresult, rest-bot, *, sap.search_vendors, deny, /Basel/, -\n")
    assert gateway.gateway.policy.reload().ok
    headers = {"Authorization": f"Bearer {gateway.token('rest-bot', roles=('procurement-agent',))}"}
    async with httpx.AsyncClient(base_url=gateway.url, headers=headers) as http:
        masked = await http.post("/v1/tools/sap.search_vendors:call", json={"country": "GB"})
        withheld = await http.post("/v1/tools/sap.search_vendors:call", json={"country": "CH"})
        metrics = await gateway.scrape()
    assert masked.status_code == 200, masked.text
    assert masked.json()["structured_content"]["vendors"][0]["IBAN"] == "[REDACTED]"
    assert "GB29NWBK60161331926819" not in masked.text
    assert withheld.status_code == 403
    assert withheld.headers["content-type"] == "application/problem+json"
    assert "the result was withheld by results.csv:" in withheld.json()["detail"]
    assert "Basel" not in withheld.text
    assert 'gateway_result_rules_total{connector="sap",effect="redacted"} 1.0' in metrics
    assert 'gateway_result_rules_total{connector="sap",effect="withheld"} 1.0' in metrics
    assert (
        'gateway_tool_calls_total{connector="sap",decision="allow",outcome="result_withheld",tool="search_vendors"}'
        in metrics
    )
