"""A throwaway certificate authority for TLS tests: a CA, server and client certificates
it signs (valid, expired, for other names), written as PEM files into a test's directory;
the set the suite's `pki` fixture holds; and a TLS listener that records every byte a
client managed to send it."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connectors.tls import spki_sha256
from gateway.serving import ServerTls

_DAY = datetime.timedelta(days=1)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Issued:
    """A certificate and its key on disk."""

    cert_file: Path
    key_file: Path

    @property
    def pin(self) -> str:
        """Its `tls.pin_sha256` value."""
        certificate = x509.load_pem_x509_certificate(self.cert_file.read_bytes())
        return spki_sha256(certificate.public_bytes(serialization.Encoding.DER))

    def serving(self, client_ca: CertificateAuthority | None = None) -> ServerTls:
        """How a stub serves with this certificate; with `client_ca`, clients must show one it signed."""
        return ServerTls(self.cert_file, self.key_file, client_ca.cert_file if client_ca else None)


class CertificateAuthority:
    def __init__(self, directory: Path, name: str = "Test CA") -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.name = name
        self._key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        self._certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 30 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(True, False, False, False, False, True, True, False, False), critical=True)
            .sign(self._key, hashes.SHA256())
        )
        self.cert_file = directory / f"{_slug(name)}.pem"
        self.cert_file.write_bytes(self._certificate.public_bytes(serialization.Encoding.PEM))

    def issue(
        self,
        name: str,
        *,
        hosts: tuple[str, ...] = ("localhost", "127.0.0.1"),
        client: bool = False,
        expired: bool = False,
    ) -> Issued:
        """A leaf certificate for `hosts` (server) or for `name` (client), valid now unless `expired`."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        not_after = now - _DAY if expired else now + 7 * _DAY
        usage = ExtendedKeyUsageOID.CLIENT_AUTH if client else ExtendedKeyUsageOID.SERVER_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(self._certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_after - 10 * _DAY)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        )
        if not client:
            builder = builder.add_extension(x509.SubjectAlternativeName([_san(h) for h in hosts]), critical=False)
        certificate = builder.sign(self._key, hashes.SHA256())
        issued = Issued(self.directory / f"{_slug(name)}.crt", self.directory / f"{_slug(name)}.key")
        issued.cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        issued.key_file.write_bytes(_pem_key(key))
        issued.key_file.chmod(0o600)
        return issued


def _san(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _slug(name: str) -> str:
    return name.lower().replace(" ", "-")


@dataclass(frozen=True)
class Pki:
    """What the TLS tests need: the CA the gateway trusts and one it does not, a valid, an
    expired and a wrongly named server certificate, one more valid server certificate with a
    key of its own (an impostor the trusted CA signed), and client certificates for mTLS."""

    ca: CertificateAuthority
    other_ca: CertificateAuthority
    server: Issued
    expired: Issued
    elsewhere: Issued
    impostor: Issued
    client: Issued
    stranger: Issued

    @classmethod
    def create(cls, directory: Path) -> Pki:
        ca = CertificateAuthority(directory / "ca")
        other_ca = CertificateAuthority(directory / "other", "Other CA")
        return cls(
            ca=ca,
            other_ca=other_ca,
            server=ca.issue("backend"),
            expired=ca.issue("expired-backend", expired=True),
            elsewhere=ca.issue("erp-backend", hosts=("erp.example",)),
            impostor=ca.issue("impostor"),
            client=ca.issue("gateway-client", client=True),
            stranger=other_ca.issue("stranger-client", client=True),
        )


@dataclass
class RecordingListener:
    """A TLS server that answers nothing and keeps every byte it received, per connection."""

    port: int = 0
    received: list[bytes] = field(default_factory=list)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError, ssl.SSLError):
            self.received.append(await reader.read(65536))
            writer.write(self.received[-1])  # an echo, for a client that expects an answer
            await writer.drain()
        writer.close()

    @property
    def everything(self) -> bytes:
        return b"".join(self.received)


@contextlib.asynccontextmanager
async def recording_listener(tls: ServerTls) -> AsyncIterator[RecordingListener]:
    listener = RecordingListener()
    server = await asyncio.start_server(listener._serve, "127.0.0.1", 0, ssl=tls.context())
    listener.port = server.sockets[0].getsockname()[1]
    try:
        yield listener
    finally:
        server.close()
        await server.wait_closed()
