"""The `tls:` options and the context built from them: load-time errors with their key paths,
and handshakes against a real TLS listener (server name, pins, minimum version), with the
pin checked before a single byte reaches the server."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from connectors.auth import MtlsAuth
from connectors.auth.mtls import certificate_identity
from connectors.options import cleartext_warnings
from connectors.tls import PinMismatch, TlsOptions, client_context, spki_sha256, tls_failure
from gateway.config.connectors import connector_settings
from gateway.config.secrets import SecretSources
from tests.support.pki import Pki, recording_listener


def _problems(stanza: dict[str, Any], base_dir: Path, *, inline: bool = True) -> list[str]:
    sources = SecretSources(environ={}, base_dir=base_dir, allow_inline=inline)
    _, errors = connector_settings({"erp": stanza}, sources)
    return errors


def _sap(tls: dict[str, Any], **more: Any) -> dict[str, Any]:
    return {
        "kind": "sap",
        "url": "https://erp.example/sap",
        "auth": {"kind": "basic", "username": "u", "password": "p"},
        "tls": tls,
        **more,
    }


async def _echo(options: dict[str, Any], port: int) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=TlsOptions(**options).context())
    writer.write(b"ping")
    await writer.drain()
    answer = await reader.read(100)
    writer.close()
    return answer


# --- load-time errors -----------------------------------------------------------------


def test_a_good_section_loads_and_paths_are_relative_to_the_config(pki: Pki) -> None:
    base = pki.ca.cert_file.parent
    sources = SecretSources(environ={}, base_dir=base, allow_inline=False)
    key_ref = f"${{file:{pki.client.key_file}}}"
    tls = {"ca_file": pki.ca.cert_file.name, "client_cert": str(pki.client.cert_file), "client_key": key_ref}
    (settings,), errors = connector_settings(
        {
            "erp": _sap(
                tls, auth={"kind": "basic", "username": "u", "password": "${file:" + str(pki.ca.cert_file) + "}"}
            )
        },
        sources,
    )
    assert errors == []
    assert settings.options["tls"]["ca_file"] == str(pki.ca.cert_file)


@pytest.mark.parametrize(
    ("tls", "expected"),
    [
        ({"ca_file": "missing-ca.pem"}, "connectors.erp.tls.ca_file: {base}/missing-ca.pem: No such file or directory"),
        ({"ca_file": "not-pem.txt"}, "connectors.erp.tls.ca_file: {base}/not-pem.txt: no PEM certificate in it"),
        ({"client_key": "KEY"}, "connectors.erp.tls.client_key: given without client_cert"),
        ({"client_cert": "{client_cert}"}, "connectors.erp.tls.client_cert: given without client_key"),
        (
            {"client_cert": "not-pem.txt", "client_key": "K"},
            "connectors.erp.tls.client_cert: {base}/not-pem.txt: no PEM",
        ),
        (
            {"client_cert": "{client_cert}", "client_key": "garbage"},
            "connectors.erp.tls.client_key: not a PEM private key",
        ),
        (
            {"client_cert": "{client_cert}", "client_key": "{other_key}"},
            "connectors.erp.tls.client_key: does not belong",
        ),
        ({"min_version": "TLSv1.1"}, "connectors.erp.tls.min_version: invalid value 'TLSv1.1': expected 'TLSv1.2' or"),
        ({"pin_sha256": "abc"}, "connectors.erp.tls.pin_sha256: 'abc' is not a base64 SHA-256 digest"),
        ({"verify": False}, "connectors.erp.tls.verify: unknown key"),
    ],
)
def test_bad_sections_are_refused_with_their_key_path(
    pki: Pki, tmp_path: Path, tls: dict[str, Any], expected: str
) -> None:
    (tmp_path / "not-pem.txt").write_text("hello")
    values = {
        "client_cert": str(pki.client.cert_file),
        "other_key": pki.stranger.key_file.read_text(),
    }
    tls = {k: v.format(**values) if isinstance(v, str) else v for k, v in tls.items()}
    (problem,) = _problems(_sap(tls), tmp_path)
    assert problem.startswith(expected.format(base=tmp_path)), problem


def test_a_client_key_is_a_secret(pki: Pki, tmp_path: Path) -> None:
    tls = {"client_cert": str(pki.client.cert_file), "client_key": pki.client.key_file.read_text()}
    problems = _problems(_sap(tls), tmp_path, inline=False)
    assert "connectors.erp.tls.client_key: a secret written into the file is refused" in "\n".join(problems)
    assert "PRIVATE KEY" not in "\n".join(problems)


@pytest.mark.parametrize(
    ("stanza", "expected"),
    [
        (
            {
                "kind": "sap",
                "url": "http://erp.example/sap",
                "auth": {"kind": "basic", "username": "u", "password": "p"},
                "tls": {},
            },
            "connectors.erp.tls: given, but url is http://: use https:// for TLS",
        ),
        (
            {"kind": "mcp", "command": ("server",), "tls": {}},
            "connectors.erp.tls: applies to an upstream reached by url, not to a stdio command",
        ),
        (
            {"kind": "openapi", "spec": "api.yaml", "base_url": "http://desk.example", "tls": {}},
            "connectors.erp.tls: given, but base_url is http://: use https:// for TLS",
        ),
        (
            {"kind": "openapi", "spec": "api.yaml", "auth": {"kind": "mtls"}},
            "connectors.erp.auth: kind mtls: the backend knows the gateway by its client certificate: "
            "set tls.client_cert and tls.client_key",
        ),
    ],
)
def test_tls_where_it_cannot_apply_is_refused(stanza: dict[str, Any], expected: str, tmp_path: Path) -> None:
    assert _problems(stanza, tmp_path) == [expected]


_MAINFRAME = {
    "kind": "mainframe",
    "host": "cics.example",
    "port": 3000,
    "auth": {"kind": "basic", "username": "GW", "password": "pw"},
}
_CLEAR = "travel unencrypted: {} is http:// (use https://)"


@pytest.mark.parametrize(
    ("stanza", "warning"),
    [
        (_sap({}, url="https://erp.example/sap"), None),
        (
            {
                "kind": "sap",
                "url": "http://erp.example/sap",
                "auth": {"kind": "basic", "username": "u", "password": "p"},
            },
            "the technical user and password " + _CLEAR.format("url"),
        ),
        (
            {
                "kind": "oracle",
                "url": "http://db.example/ords/hr",
                "auth": {"kind": "oauth_client_credentials", "client_id": "gw", "client_secret": "s"},
            },
            "the OAuth client secret and its tokens " + _CLEAR.format("url"),
        ),
        ({"kind": "openapi", "spec": "http://desk.example/openapi.json"}, None),
        (
            {"kind": "openapi", "spec": "http://desk.example/openapi.json", "auth": {"kind": "bearer", "token": "t"}},
            "the gateway's bearer tokens " + _CLEAR.format("spec"),
        ),
        (
            {
                "kind": "openapi",
                "spec": "api.yaml",
                "base_url": "http://desk.example",
                "auth": {"kind": "api_key", "key": "k"},
            },
            "the gateway's API keys " + _CLEAR.format("base_url"),
        ),
        ({"kind": "mcp", "url": "http://tools.example/mcp"}, None),
        (
            {"kind": "mcp", "url": "http://tools.example/mcp", "headers": {"x-api-key": "k"}},
            "the configured headers " + _CLEAR.format("url"),
        ),
        (_MAINFRAME, "the RACF user and password travel unencrypted over plain TCP (add a tls section)"),
        ({**_MAINFRAME, "tls": {}}, None),
    ],
)
def test_credentials_in_clear_are_named(stanza: dict[str, Any], warning: str | None, tmp_path: Path) -> None:
    (settings,), errors = connector_settings({"erp": stanza}, SecretSources(environ={}, base_dir=tmp_path))
    assert errors == []
    assert cleartext_warnings([settings]) == ({"erp": warning} if warning else {})


def test_mtls_auth_names_the_certificate_the_backend_sees(pki: Pki) -> None:
    assert MtlsAuth(kind="mtls").kind == "mtls"
    identity = certificate_identity(str(pki.client.cert_file))
    assert identity["kind"] == "mtls" and identity["subject"] == "CN=gateway-client"


def test_the_context_verifies_and_holds_the_minimum_version() -> None:
    default = client_context()
    assert client_context() is default  # the system's CA bundle is loaded once
    assert default.verify_mode is ssl.CERT_REQUIRED and default.check_hostname
    assert default.minimum_version is ssl.TLSVersion.TLSv1_2
    assert TlsOptions(min_version="TLSv1.3").context().minimum_version is ssl.TLSVersion.TLSv1_3


def test_one_pin_may_be_written_without_a_list(pki: Pki) -> None:
    assert TlsOptions(pin_sha256=pki.server.pin).pin_sha256 == (pki.server.pin,)


# --- handshakes -------------------------------------------------------------------------


async def test_a_pinned_key_among_several_is_accepted(pki: Pki) -> None:
    options = {"ca_file": str(pki.ca.cert_file), "pin_sha256": [pki.expired.pin, pki.server.pin]}
    async with recording_listener(pki.server.serving()) as listener:
        assert await _echo(options, listener.port) == b"ping"


async def test_a_wrong_pin_fails_the_handshake_before_any_byte_is_sent(pki: Pki) -> None:
    options = {"ca_file": str(pki.ca.cert_file), "pin_sha256": [pki.expired.pin]}
    async with recording_listener(pki.server.serving()) as listener:
        with pytest.raises(PinMismatch) as refused:
            await _echo(options, listener.port)
        await asyncio.sleep(0.05)
    assert refused.value.found == pki.server.pin
    assert (
        tls_failure(refused.value)
        == "TLS certificate verify failed: the backend's public key matches no tls.pin_sha256"
    )
    assert listener.received in ([], [b""])


async def test_server_name_replaces_the_host_connected_to(pki: Pki) -> None:
    options = {"ca_file": str(pki.ca.cert_file)}
    async with recording_listener(pki.elsewhere.serving()) as listener:
        with pytest.raises(ssl.SSLCertVerificationError) as refused:
            await _echo(options, listener.port)
        assert await _echo({**options, "server_name": "erp.example"}, listener.port) == b"ping"
    assert tls_failure(refused.value) == (
        "TLS certificate verify failed: IP address mismatch, certificate is not valid for '127.0.0.1'."
    )


async def test_min_version_refuses_an_older_server(pki: Pki) -> None:
    old = pki.server.serving().context()
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    # A blocking server: it sends its alert before closing (asyncio's would only reset).
    with socket.create_server(("127.0.0.1", 0)) as listening:
        port = listening.getsockname()[1]

        def refuse_one() -> None:
            connection, _ = listening.accept()
            with contextlib.suppress(ssl.SSLError), old.wrap_socket(connection, server_side=True):
                pass

        refusing = asyncio.create_task(asyncio.to_thread(refuse_one))
        with pytest.raises(ssl.SSLError) as refused:
            await _echo({"ca_file": str(pki.ca.cert_file), "min_version": "TLSv1.3"}, port)
        await refusing
    assert tls_failure(refused.value) == "TLS handshake failed: no TLS version in common (see tls.min_version)"


async def test_a_blocking_socket_checks_the_pin_too(pki: Pki) -> None:
    context = TlsOptions(ca_file=str(pki.ca.cert_file), pin_sha256=pki.expired.pin).context()

    def connect(port: int) -> None:
        with (
            socket.create_connection(("127.0.0.1", port)) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            pass

    async with recording_listener(pki.server.serving()) as listener:
        with pytest.raises(PinMismatch):
            await asyncio.to_thread(connect, listener.port)


def test_the_pin_is_the_sha256_of_the_public_key_info(pki: Pki) -> None:
    # As `openssl x509 -pubkey | openssl pkey -pubin -outform der | openssl dgst -sha256 -binary | base64`.
    certificate = x509.load_pem_x509_certificate(pki.server.cert_file.read_bytes())
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    der = ssl.PEM_cert_to_DER_cert(pki.server.cert_file.read_text())
    assert spki_sha256(der) == base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_other_failures_are_not_described_as_tls() -> None:
    assert tls_failure(ConnectionRefusedError(111, "refused")) is None
    assert tls_failure(ConnectionResetError(104, "reset")) is None  # no TLS context: not a TLS connection
    closed = tls_failure(ConnectionResetError(104, "reset"), client_context())
    assert closed is not None and "does it require a client certificate?" in closed
