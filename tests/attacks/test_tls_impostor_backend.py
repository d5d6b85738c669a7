"""An impostor in the backend's place: a server with a certificate the trusted CA really
signed, for the backend's own name (a mis-issued certificate, a CA that signs for anyone
inside the company), but with a key of its own. Without a pin the gateway would hand it
the backend's credentials with the first request; with `tls.pin_sha256` the handshake fails
before one byte of the request leaves, so the impostor learns neither the SAP password nor
the RACF sign-on, and the agent is told why."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from gateway.mcp.client import connect
from tests.support.gateway import GatewayFactory
from tests.support.pki import Pki, recording_listener

SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
SAP_BASIC = base64.b64encode(b"gateway:sap-pw")
RACF_PASSWORD = "racf-pw".encode("cp037")  # the sign-on field of the CICS frame (EBCDIC)
REFUSED = "is unavailable: TLS certificate verify failed: the backend's public key matches no tls.pin_sha256"


def _stanzas(pki: Pki, port: int, pin: str) -> dict[str, Any]:
    tls = {"ca_file": str(pki.ca.cert_file), "pin_sha256": pin}
    common = {"retries": 0, "timeout_seconds": 5, "tls": tls}
    return {
        "sap": {
            "kind": "sap",
            "url": f"https://127.0.0.1:{port}{SERVICE}",
            "auth": {"kind": "basic", "username": "gateway", "password": "sap-pw"},
            **common,
        },
        "mainframe": {
            "kind": "mainframe",
            "host": "127.0.0.1",
            "port": port,
            "auth": {"kind": "basic", "username": "GATEWAY", "password": "racf-pw"},
            **common,
        },
    }


def _allow_both(policy_dir: Path) -> None:
    rules = [f"p, tester, *, {connector}.*, allow, true, -\n" for connector in ("sap", "mainframe")]
    (policy_dir / "policy.csv").write_text("".join(rules))
    (policy_dir / "cases.yaml").unlink(missing_ok=True)


async def _call_both(start_gateway: GatewayFactory, stanzas: dict[str, Any]) -> list[str | None]:
    async with start_gateway(stanzas) as gw, connect(gw.mcp_url, gw.token("agent-7", roles=("tester",))) as client:
        calls = [
            await client.call_tool("sap.search_vendors", {"country": "DE"}),
            await client.call_tool("mainframe.account_inquiry", {"account_number": 1000000001}),
        ]
    return [c.content[0].text if c.is_error else None for c in calls]


async def test_an_impostor_with_a_trusted_certificate_learns_no_credential(
    pki: Pki, policy_dir: Path, start_gateway: GatewayFactory
) -> None:
    _allow_both(policy_dir)
    async with recording_listener(pki.impostor.serving()) as impostor:
        errors = await _call_both(start_gateway, _stanzas(pki, impostor.port, pki.server.pin))
    assert errors == [f"backend 'sap' {REFUSED}", f"backend 'mainframe' {REFUSED}"]
    assert impostor.everything == b""  # not even the request line, let alone SAP_BASIC or RACF_PASSWORD


async def test_without_the_pin_the_same_impostor_would_have_read_them(
    pki: Pki, policy_dir: Path, start_gateway: GatewayFactory
) -> None:
    # The control: the pin, not the CA, is what kept the credentials from the impostor.
    _allow_both(policy_dir)
    async with recording_listener(pki.impostor.serving()) as impostor:
        await _call_both(start_gateway, _stanzas(pki, impostor.port, pki.impostor.pin))
    assert SAP_BASIC in impostor.everything and RACF_PASSWORD in impostor.everything
