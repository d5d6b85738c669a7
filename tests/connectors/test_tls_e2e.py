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
from connectors.sap import stub as sap_stub
from connectors.stubkit import serve_app
from gateway.mcp.client import connect
from gateway.serving import ServerTls
from tests.connectors.conftest import Pki
from tests.support.gateway import GatewayFactory, RunningGateway
from tests.support.pki import Issued

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
PLAIN_TCP = "the RACF user and password travel unencrypted over plain TCP (add a tls section)"


@dataclass(frozen=True)
class Case:
    """One connector: how its stub serves, what its `tls` section says, what the agent reads."""

    serving: Callable[[Pki], ServerTls | None]
    tls: Callable[[Pki], dict[str, Any] | None]
    #: The agent's error; None: the call succeeds.
    error: str | None = None
    #: Connect by this name instead of 127.0.0.1.
    host: str = "127.0.0.1"


def _trusting(pki: Pki, **more: Any) -> dict[str, Any]:
    return {"ca_file": str(pki.ca.cert_file), **more}


def _client(issued: Issued) -> dict[str, str]:
    return {"client_cert": str(issued.cert_file), "client_key": f"${{file:{issued.key_file}}}"}


def _verify_failed(reason: str) -> str:
    return f"is unavailable: TLS certificate verify failed: {reason}"


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
        "is unavailable: TLS connection closed by the backend before it answered: "
        "does it require a client certificate? (tls.client_cert is not set)",
    ),
    "mtls_unknown_cert": Case(
        lambda p: p.server.serving(p.ca),
        lambda p: _trusting(p, **_client(p.stranger)),
        "is unavailable: TLS connection closed by the backend before it answered: "
        "did it refuse the gateway's client certificate?",
    ),
    "plain": Case(lambda p: None, lambda p: None),
}


def _policy(policy_dir: Path, kind: str) -> None:
    (policy_dir / "policy.csv").write_text(
        "".join(f"p, tester, *, {kind}_{name}.*, allow, true, -\n" for name in CASES)
    )
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
    return {name: f"backend '{kind}_{name}' {c.error}" if c.error else None for name, c in CASES.items()}


async def _operator_readyz(gw: RunningGateway) -> dict[str, Any]:
    admin = {"Authorization": f"Bearer {gw.token('ops', ('gateway-admin',))}"}
    async with httpx.AsyncClient(base_url=gw.url) as http:
        return (await http.get("/readyz", headers=admin)).json()


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
    _policy(policy_dir, "sap")
    async with _sap_stubs(pki) as stubs:
        stanzas = {
            f"sap_{name}": {
                "kind": "sap",
                "url": stubs[name][0],
                "username": "gateway",
                "password": "s3cret",
                "retries": 0,
                "timeout_seconds": 5,
                **({"tls": tls} if (tls := case.tls(pki)) is not None else {}),
            }
            for name, case in CASES.items()
        }
        with caplog.at_level(logging.WARNING, logger="gateway.runtime"):
            async with start_gateway(stanzas) as gw:
                outcomes = await _outcomes(gw, "sap", "search_vendors", {"country": "DE"})
                readyz = await _operator_readyz(gw)
    assert outcomes == _expected("sap")
    # Refused before the first request: the backend never saw one.
    for name, case in CASES.items():
        assert (stubs[name][1].state.requests == []) == (case.error is not None), name
    cleartext = "the technical user and password travel unencrypted: url is http:// (use https://)"
    assert {name: b.get("warning") for name, b in readyz["backends"].items() if "warning" in b} == {
        "sap_plain": cleartext
    }
    assert f"connector sap_plain: {cleartext}" in caplog.messages


async def test_mainframe_over_tls(
    pki: Pki, policy_dir: Path, start_gateway: GatewayFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _policy(policy_dir, "mainframe")
    async with AsyncExitStack() as stack:
        stubs = {
            name: await stack.enter_async_context(serve_mainframe(password="mf-pw", tls=case.serving(pki)))
            for name, case in CASES.items()
        }
        stanzas = {
            f"mainframe_{name}": {
                "kind": "mainframe",
                "host": case.host,
                "port": stubs[name].port,
                "user": "GATEWAY",
                "password": "mf-pw",
                "retries": 0,
                "timeout_seconds": 5,
                **({"tls": tls} if (tls := case.tls(pki)) is not None else {}),
            }
            for name, case in CASES.items()
        }
        with caplog.at_level(logging.WARNING, logger="gateway.runtime"):
            async with start_gateway(stanzas) as gw:
                outcomes = await _outcomes(gw, "mainframe", "account_inquiry", {"account_number": 1000000001})
                readyz = await _operator_readyz(gw)
    assert outcomes == _expected("mainframe")
    for name, case in CASES.items():
        assert (stubs[name].requests == []) == (case.error is not None), name
    warnings = {name: b["warning"] for name, b in readyz["backends"].items() if "warning" in b}
    assert warnings == {"mainframe_plain": PLAIN_TCP}
    assert f"connector mainframe_plain: {PLAIN_TCP}" in caplog.messages
