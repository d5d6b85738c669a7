"""TLS to the backends, end to end: stubs serving TLS (some requiring client certificates),
a gateway with one connector per case, called by an agent with the official MCP SDK client.
A wrong CA, an expired certificate, a wrong name and a wrong pin are each refused with a
precise error the agent reads, and nothing reaches the backend; mutual TLS works where the
stub requires it and fails precisely without a client certificate. Credentials sent in the
clear (plain TCP to the mainframe, http:// to SAP) are warned about in the start-up log and
in the operator's /readyz."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from connectors.mainframe.stub import serve_mainframe
from connectors.mcp import stub as echo_stub
from connectors.openapi.stub import create_app as helpdesk_app
from connectors.oracle.stub import create_app as ords_app
from connectors.sap import stub as sap_stub
from connectors.stubkit import serve_app
from gateway.mcp.client import connect
from gateway.serving import ServerTls
from tests.support.gateway import GatewayFactory, RunningGateway
from tests.support.pki import Issued, Pki

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
PLAIN_TCP = "the RACF user and password travel unencrypted over plain TCP (add a tls section)"


@dataclass(frozen=True)
class Case:
    """One connector: how its stub serves, what its `tls` section says, what the agent reads."""

    serving: Callable[[Pki], ServerTls | None]
    tls: Callable[[Pki], dict[str, Any] | None]
    #: What the agent reads after "backend 'NAME' is unavailable: "; None: the call succeeds.
    error: str | None = None
    #: Connect by this name instead of 127.0.0.1.
    host: str = "127.0.0.1"


def _trusting(pki: Pki, **more: Any) -> dict[str, Any]:
    return {"ca_file": str(pki.ca.cert_file), **more}


def _client(issued: Issued) -> dict[str, str]:
    return {"client_cert": str(issued.cert_file), "client_key": f"${{file:{issued.key_file}}}"}


def _verify_failed(reason: str) -> str:
    return f"TLS certificate verify failed: {reason}"


CASES = {
    "ok": Case(lambda p: p.server.serving(), _trusting),
    "pinned": Case(lambda p: p.server.serving(), lambda p: _trusting(p, pin_sha256=[p.expired.pin, p.server.pin])),
    "wrong_ca": Case(
        lambda p: p.server.serving(),
        lambda p: {"ca_file": str(p.other_ca.cert_file)},
        _verify_failed("unable to get local issuer certificate"),
    ),
    "expired": Case(lambda p: p.expired.serving(), _trusting, _verify_failed("certificate has expired")),
    "wrong_name": Case(
        lambda p: p.elsewhere.serving(),
        _trusting,
        _verify_failed("Hostname mismatch, certificate is not valid for 'localhost'."),
        host="localhost",
    ),
    "wrong_pin": Case(
        lambda p: p.server.serving(),
        lambda p: _trusting(p, pin_sha256=p.expired.pin),
        _verify_failed("the backend's public key matches no tls.pin_sha256"),
    ),
    "mtls": Case(lambda p: p.server.serving(p.ca), lambda p: _trusting(p, **_client(p.client))),
    "mtls_no_cert": Case(
        lambda p: p.server.serving(p.ca),
        _trusting,
        "TLS connection closed by the backend before it answered: "
        "does it require a client certificate? (tls.client_cert is not set)",
    ),
    "mtls_unknown_cert": Case(
        lambda p: p.server.serving(p.ca),
        lambda p: _trusting(p, **_client(p.stranger)),
        "TLS connection closed by the backend before it answered: did it refuse the gateway's client certificate?",
    ),
    "plain": Case(lambda p: None, lambda p: None),
}


def _allow(policy_dir: Path, connectors: list[str]) -> None:
    (policy_dir / "policy.csv").write_text("".join(f"p, tester, *, {name}.*, allow, true, -\n" for name in connectors))
    (policy_dir / "cases.yaml").unlink(missing_ok=True)


async def _outcomes(gw: RunningGateway, kind: str, tool: str, arguments: dict[str, Any]) -> dict[str, str | None]:
    """What the agent reads from each case's connector: None when the call succeeded."""
    found: dict[str, str | None] = {}
    async with connect(gw.mcp_url, gw.token("agent-7", roles=("tester",))) as client:
        for name in CASES:
            result = await client.call_tool(f"{kind}_{name}.{tool}", arguments)
            found[name] = result.content[0].text if result.is_error else None
    return found


def _expected(kind: str) -> dict[str, str | None]:
    return {name: c.error and f"backend '{kind}_{name}' is unavailable: {c.error}" for name, c in CASES.items()}


async def _operator_readyz(gw: RunningGateway) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {gw.token('ops', ('gateway-admin',))}"}
    async with httpx.AsyncClient(base_url=gw.url) as http:
        return (await http.get("/readyz", headers=admin)).json()


@dataclass(frozen=True)
class Run:
    #: Per case: what the agent read (None: the call succeeded).
    outcomes: dict[str, str | None]
    #: The cleartext warnings of the admin's /readyz, by connector.
    warnings: dict[str, str]


async def _run_cases(
    kind: str,
    stanza: Callable[[str, Case], dict[str, Any]],
    call: tuple[str, dict[str, Any]],
    pki: Pki,
    policy_dir: Path,
    start_gateway: GatewayFactory,
) -> Run:
    """One gateway with a connector `KIND_CASE` per case (`stanza` without its tls section),
    each called once with `call` (tool and arguments) by an agent."""
    _allow(policy_dir, [f"{kind}_{name}" for name in CASES])
    stanzas = {
        f"{kind}_{name}": {
            **stanza(name, case),
            "retries": 0,
            "timeout_seconds": 5,
            **({"tls": tls} if (tls := case.tls(pki)) is not None else {}),
        }
        for name, case in CASES.items()
    }
    async with start_gateway(stanzas) as gw:
        outcomes = await _outcomes(gw, kind, *call)
        readyz = await _operator_readyz(gw)
    warnings = {name: b["warning"] for name, b in readyz["backends"].items() if "warning" in b}
    return Run(outcomes, warnings)


@contextlib.asynccontextmanager
async def _sap_stubs(pki: Pki) -> AsyncIterator[dict[str, tuple[str, Any]]]:
    async with AsyncExitStack() as stack:
        stubs = {}
        for name, case in CASES.items():
            app = sap_stub.create_app(username="gateway", password="s3cret")
            url = await stack.enter_async_context(serve_app(app, tls=case.serving(pki)))
            stubs[name] = (url.replace("127.0.0.1", case.host) + SERVICE, app)
        yield stubs


async def test_sap_over_tls(
    pki: Pki, policy_dir: Path, start_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with _sap_stubs(pki) as stubs:

        def stanza(name: str, case: Case) -> dict[str, Any]:
            return {
                "kind": "sap",
                "url": stubs[name][0],
                "auth": {"kind": "basic", "username": "gateway", "password": "s3cret"},
            }

        with caplog.at_level(logging.WARNING, logger="gateway.runtime"):
            run = await _run_cases("sap", stanza, ("search_vendors", {"country": "DE"}), pki, policy_dir, start_gateway)
    assert run.outcomes == _expected("sap")
    # Refused before the first request: the backend never saw one.
    for name, case in CASES.items():
        assert (stubs[name][1].state.requests == []) == (case.error is not None), name
    cleartext = "the technical user and password travel unencrypted: url is http:// (use https://)"
    assert run.warnings == {"sap_plain": cleartext}
    assert f"connector sap_plain: {cleartext}" in caplog.messages


async def test_mainframe_over_tls(
    pki: Pki, policy_dir: Path, start_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async with AsyncExitStack() as stack:
        stubs = {
            name: await stack.enter_async_context(serve_mainframe(password="mf-pw", tls=case.serving(pki)))
            for name, case in CASES.items()
        }

        def stanza(name: str, case: Case) -> dict[str, Any]:
            port = stubs[name].port
            return {
                "kind": "mainframe",
                "host": case.host,
                "port": port,
                "auth": {"kind": "basic", "username": "GATEWAY", "password": "mf-pw"},
            }

        with caplog.at_level(logging.WARNING, logger="gateway.runtime"):
            call = ("account_inquiry", {"account_number": 1000000001})
            run = await _run_cases("mainframe", stanza, call, pki, policy_dir, start_gateway)
    assert run.outcomes == _expected("mainframe")
    for name, case in CASES.items():
        assert (stubs[name].requests == []) == (case.error is not None), name
    assert run.warnings == {"mainframe_plain": PLAIN_TCP}
    assert f"connector mainframe_plain: {PLAIN_TCP}" in caplog.messages


async def test_an_api_that_knows_the_gateway_by_its_client_certificate(
    pki: Pki, policy_dir: Path, start_gateway: GatewayFactory
) -> None:
    _allow(policy_dir, ["desk"])
    app = helpdesk_app(token=None)  # no token: the client certificate is the credential
    async with serve_app(app, tls=pki.server.serving(pki.ca)) as url:
        stanza = {
            "kind": "openapi",
            "spec": url + "/openapi.json",
            "auth": {"kind": "mtls"},
            "tls": _trusting(pki, **_client(pki.client)),
            "timeout_seconds": 5,
        }
        async with start_gateway({"desk": stanza}) as gw:
            async with connect(gw.mcp_url, gw.token("agent-7", roles=("tester",))) as client:
                result = await client.call_tool("desk.listTickets", {})
            readyz = await _operator_readyz(gw)
    assert not result.is_error and "VPN drops every hour" in result.content[0].text
    assert all("authorization" not in r.headers for r in app.state.requests)
    assert "warning" not in readyz["backends"]["desk"]


async def test_oracle_signs_in_and_queries_over_mutual_tls(
    pki: Pki, policy_dir: Path, start_gateway: GatewayFactory, tmp_path: Path
) -> None:
    _allow(policy_dir, ["hr"])
    app = ords_app(tmp_path / "hr.db", client_secret="ords-secret")
    async with serve_app(app, tls=pki.server.serving(pki.ca)) as url:
        stanza = {
            "kind": "oracle",
            "url": url + "/ords/hr",
            "auth": {"kind": "oauth_client_credentials", "client_id": "gateway", "client_secret": "ords-secret"},
            "tls": _trusting(pki, **_client(pki.client)),
            "timeout_seconds": 5,
        }
        async with start_gateway({"hr": stanza}) as gw, connect(gw.mcp_url, gw.token("agent-7", ("tester",))) as client:
            result = await client.call_tool("hr.get_employee", {"employee_id": 100})
    assert not result.is_error, result.content[0].text
    # The token request and the query both went over the same mutual-TLS client.
    paths = [r.path for r in app.state.requests]
    assert "/ords/hr/oauth/token" in paths and paths[-1] == "/ords/hr/employees/100"


async def test_an_mcp_upstream_over_tls(pki: Pki, policy_dir: Path, start_gateway: GatewayFactory) -> None:
    _allow(policy_dir, ["echo", "pinned", "mtls", "certless"])
    async with AsyncExitStack() as stack:
        url = await stack.enter_async_context(serve_app(echo_stub.create_app(), tls=pki.server.serving()))
        mtls_url = await stack.enter_async_context(serve_app(echo_stub.create_app(), tls=pki.server.serving(pki.ca)))
        tls_of = {
            "echo": (url, _trusting(pki)),
            "pinned": (url, _trusting(pki, pin_sha256=pki.expired.pin)),
            "mtls": (mtls_url, _trusting(pki, **_client(pki.client))),
            "certless": (mtls_url, _trusting(pki)),
        }
        stanzas = {
            name: {"kind": "mcp", "url": base + "/mcp", "tls": tls, "timeout_seconds": 5}
            for name, (base, tls) in tls_of.items()
        }
        async with start_gateway(stanzas) as gw:
            async with connect(gw.mcp_url, gw.token("agent-7", roles=("tester",))) as client:
                listed = {t.name for t in (await client.list_tools()).tools}
                echoed = [await client.call_tool(f"{name}.echo", {"text": "over TLS"}) for name in ("echo", "mtls")]
            readyz = await _operator_readyz(gw)
    assert [(e.is_error, e.content[0].text) for e in echoed] == [(False, "over TLS")] * 2
    # Only the upstreams that could be reached offer tools (beside the gateway's own).
    assert {name.partition(".")[0] for name in listed} - {"gateway"} == {"echo", "mtls"}
    details = {name: readyz["backends"][name]["detail"] for name in ("pinned", "certless")}
    assert details["pinned"].endswith(_verify_failed("the backend's public key matches no tls.pin_sha256"))
    assert details["certless"].endswith("does it require a client certificate? (tls.client_cert is not set)")
