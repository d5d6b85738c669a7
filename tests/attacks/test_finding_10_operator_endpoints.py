"""Finding 10: /metrics and /readyz needed no credentials, revealed tool usage, pending
approvals, the policy hash and backends' host:port, and every /readyz request probed all
backends."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import httpx
import pytest
from starlette.applications import Starlette

from connectors.sap import stub as sap_stub
from gateway.problems import PROBLEM_MEDIA_TYPE
from gateway.serving import running
from tests.support.gateway import METRICS_TOKEN, RunningGateway

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"


@pytest.fixture
async def sap_backend() -> AsyncIterator[tuple[str, Starlette]]:
    app = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(app) as url:
        yield url + SERVICE, app


async def test_metrics_are_not_readable_without_the_scrape_token(echo_gateway: RunningGateway) -> None:
    agent = {"Authorization": f"Bearer {echo_gateway.token('curious-agent', ('tester', 'gateway-admin'))}"}
    async with httpx.AsyncClient(base_url=echo_gateway.url) as http:
        for headers in ({}, {"Authorization": "Bearer guess"}, agent):
            response = await http.get("/metrics", headers=headers)
            assert response.status_code == 401
            assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
            assert "gateway_" not in response.text
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert scraped.status_code == 200 and "gateway_tool_calls_total" in scraped.text


async def test_metrics_on_their_own_listener_are_not_on_the_agents_port(start_gateway, echo_upstream) -> None:
    url, _ = echo_upstream
    server = {"metrics_port": 0, "metrics_token": None}
    async with start_gateway({"echo": {"kind": "mcp", "url": url}}, server=server) as gw:
        metrics_url = gw.app.state.metrics_url
        assert urlsplit(metrics_url).port != urlsplit(gw.url).port
        async with httpx.AsyncClient() as http:
            on_agents_port = await http.get(f"{gw.url}/metrics", headers=gw.scrape_headers)
            scraped = await http.get(f"{metrics_url}/metrics")
            # The metrics listener serves nothing else.
            assert (await http.get(f"{metrics_url}/v1/tools")).status_code == 404
    assert on_agents_port.status_code == 404 and "gateway_" not in on_agents_port.text
    assert "server.metrics_port" in on_agents_port.json()["detail"]
    assert scraped.status_code == 200 and "gateway_tool_calls_total" in scraped.text


async def test_readyz_tells_strangers_only_whether_it_is_ready(start_gateway, sap_backend) -> None:
    url, _ = sap_backend
    stanza = {"kind": "sap", "url": url, "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"}}
    async with start_gateway({"sap": stanza}) as gw:
        address = urlsplit(url).netloc
        policy = gw.gateway.policy.current.version
        agent = {"Authorization": f"Bearer {gw.token('agent', ('procurement-agent',))}"}
        admin = {"Authorization": f"Bearer {gw.token('ops', ('gateway-admin',))}"}
        async with httpx.AsyncClient(base_url=gw.url) as http:
            views = [await http.get("/readyz", headers=h) for h in ({}, agent, {"Authorization": "Bearer x"})]
            detailed = await http.get("/readyz", headers=admin)
    for view in views:
        assert view.status_code == 200 and set(view.json()) == {"ready", "checked_at"}
        assert address not in view.text and policy not in view.text and "sap" not in view.text
    assert detailed.json()["policy"] == policy and "sap" in detailed.json()["backends"]


async def test_a_flood_of_readyz_does_not_reach_the_backends(start_gateway, sap_backend) -> None:
    url, app = sap_backend
    stanza = {"kind": "sap", "url": url, "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"}}
    async with start_gateway({"sap": stanza}, server={"readiness_interval_seconds": 60}) as gw:
        before = len(app.state.requests)
        async with httpx.AsyncClient(base_url=gw.url) as http:
            answers = await asyncio.gather(*(http.get("/readyz") for _ in range(200)))
        assert {a.status_code for a in answers} == {200}
        assert len(app.state.requests) == before  # answered from the last background probe
