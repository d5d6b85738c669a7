"""TLS toward a backend: the `tls:` options every network connector accepts, and the one
function that turns them into an `ssl.SSLContext` for httpx, the MCP SDK's httpx2 and
asyncio streams alike.

The context carries the whole policy with it. Its `server_name` replaces the host a
client library passes (so SNI and the name check follow the config), and its pins are
checked inside the handshake: the context's SSL object and socket classes compare the
server certificate's public key with `pin_sha256` when the handshake completes and fail
the handshake otherwise. Whichever library drives the connection, no request byte is
written to a server whose key is not pinned.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import functools
import hashlib
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from gateway.config import KeyProblem, Secret
from gateway.config.secrets import SecretSources
from gateway.errors import GatewayError

MIN_VERSIONS = {"TLSv1.2": ssl.TLSVersion.TLSv1_2, "TLSv1.3": ssl.TLSVersion.TLSv1_3}

#: OpenSSL's reasons for a failed handshake, in words an operator acts on.
_REASONS = {
    "TLSV13_ALERT_CERTIFICATE_REQUIRED": "the backend requires a client certificate (tls.client_cert, tls.client_key)",
    "SSLV3_ALERT_HANDSHAKE_FAILURE": "the backend refused the handshake (does it require a client certificate?)",
    "TLSV1_ALERT_UNKNOWN_CA": "the backend does not trust the gateway's client certificate (unknown CA)",
    "SSLV3_ALERT_BAD_CERTIFICATE": "the backend refused the gateway's client certificate",
    "SSLV3_ALERT_CERTIFICATE_EXPIRED": "the backend refused the gateway's client certificate as expired",
    "TLSV1_ALERT_PROTOCOL_VERSION": "no TLS version in common (see tls.min_version)",
    "UNSUPPORTED_PROTOCOL": "no TLS version in common (see tls.min_version)",
    "WRONG_VERSION_NUMBER": "the backend does not speak TLS on this port",
}


def _pins(value: Any) -> Any:
    # One pin may be written as a plain string; a list holds the next key during a rotation.
    return (value,) if isinstance(value, str) else value


def _pin_digest(pin: str) -> bytes:
    try:
        digest = base64.b64decode(pin, validate=True)
    except binascii.Error:
        digest = b""
    if len(digest) != hashlib.sha256().digest_size:
        raise KeyProblem("", f"{pin!r} is not a base64 SHA-256 digest (44 characters ending in '=')")
    return digest


def spki_sha256(der_certificate: bytes) -> str:
    """The pin of a certificate: base64 SHA-256 of its SubjectPublicKeyInfo (as HPKP and
    curl's --pinnedpubkey write it), so a renewed certificate with the same key still matches."""
    key = x509.load_der_x509_certificate(der_certificate).public_key()
    spki = key.public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


class TlsOptions(BaseModel):
    """How the gateway reaches a backend over TLS. Relative paths are relative to the config file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ca_file: str | None = Field(
        None,
        min_length=1,
        description="PEM file of the CA certificates the backend's certificate must chain to; "
        "default: the system's trust store.",
    )
    client_cert: str | None = Field(
        None, min_length=1, description="PEM file of the gateway's client certificate (and its chain), for mutual TLS."
    )
    client_key: Secret | None = Field(
        None, description="The client certificate's private key, PEM; a secret: `${file:/run/secrets/gateway.key}`."
    )
    client_key_password: Secret | None = Field(None, description="Password of an encrypted client_key.")
    server_name: str | None = Field(
        None,
        min_length=1,
        description="Name the backend's certificate must carry, also sent as SNI; default: the host connected to.",
    )
    pin_sha256: Annotated[tuple[str, ...], BeforeValidator(_pins)] = Field(
        (),
        description="Base64 SHA-256 of the backend certificate's public key (SubjectPublicKeyInfo); "
        "one, or a list while a key is rotated. Checked in addition to the CA.",
    )
    min_version: Literal["TLSv1.2", "TLSv1.3"] = Field("TLSv1.2", description="Oldest TLS version accepted.")

    _context: BackendTlsContext | None = PrivateAttr(None)

    @field_validator("ca_file", "client_cert")
    @classmethod
    def _absolute(cls, path: str | None, info: ValidationInfo) -> str | None:
        # Absolute from here on: a connector validates its options again, without the config's directory.
        base = info.context.base_dir if isinstance(info.context, SecretSources) else Path.cwd()
        return None if path is None else str(base / path)

    @field_validator("pin_sha256")
    @classmethod
    def _digests(cls, pins: tuple[str, ...]) -> tuple[str, ...]:
        for pin in pins:
            _pin_digest(pin)
        return pins

    @model_validator(mode="after")
    def _load_files(self) -> TlsOptions:
        # Loading the files is the check: a missing file or a key that does not fit the
        # certificate is a config error with its key, at load time. Without files nothing
        # can fail, and the system's trust store (slow to load) waits for `context()`.
        if self.ca_file is not None or self.client_cert is not None or self.client_key is not None:
            self._context = _build_context(self)
        return self

    def context(self) -> ssl.SSLContext:
        """The client context these options describe (built once)."""
        if self._context is None:
            self._context = _build_context(self)
        return self._context


class PinMismatch(ssl.SSLCertVerificationError, GatewayError):
    """The backend's certificate chains to a trusted CA, but its key is not pinned."""

    def __init__(self, found: str) -> None:
        message = "the backend's public key matches no tls.pin_sha256"
        super().__init__(1, f"certificate verify failed: {message}")
        self.verify_message = message
        #: The pin the backend presented (for the operator's log, to compare with the config).
        self.found = found


def _check_pins(context: ssl.SSLContext, der_certificate: bytes | None) -> None:
    pins = context.pins if isinstance(context, BackendTlsContext) else frozenset()
    if not pins:
        return
    found = spki_sha256(der_certificate) if der_certificate else "(no certificate)"
    if der_certificate is None or base64.b64decode(found) not in pins:
        raise PinMismatch(found)


class _PinnedObject(ssl.SSLObject):
    """What asyncio and anyio drive over memory buffers: pins checked as the handshake ends."""

    def do_handshake(self) -> None:
        super().do_handshake()
        _check_pins(self.context, self.getpeercert(binary_form=True))


class _PinnedSocket(ssl.SSLSocket):
    """The same for a blocking socket (a synchronous client)."""

    def do_handshake(self, block: bool = False) -> None:
        super().do_handshake(block)
        _check_pins(self.context, self.getpeercert(binary_form=True))


class BackendTlsContext(ssl.SSLContext):
    """A client context that verifies `server_name` in place of the host it is handed and
    checks `pins` (raw SHA-256 digests of SubjectPublicKeyInfo) during the handshake."""

    sslobject_class = _PinnedObject
    sslsocket_class = _PinnedSocket
    server_name: str | None = None
    pins: frozenset[bytes] = frozenset()
    #: Whether the gateway shows a client certificate (mutual TLS).
    client_certificate: bool = False

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        return super().wrap_bio(incoming, outgoing, server_side, self.server_name or server_hostname, session)

    def wrap_socket(
        self,
        sock: socket.socket,
        server_side: bool = False,
        do_handshake_on_connect: bool = True,
        suppress_ragged_eofs: bool = True,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLSocket:
        return super().wrap_socket(
            sock,
            server_side,
            do_handshake_on_connect,
            suppress_ragged_eofs,
            self.server_name or server_hostname,
            session,
        )


def client_context(options: TlsOptions | None = None) -> ssl.SSLContext:
    """The context for one backend: its `tls:` options, or (None) the system's trust store
    with the default minimum version, as every https:// backend gets without a `tls:` section."""
    return options.context() if options is not None else _system_trust()


@functools.cache
def _system_trust() -> ssl.SSLContext:
    # One for every backend without a tls section: loading the system's CA bundle takes tens
    # of milliseconds, and the context holds nothing of any one backend.
    return _build_context(TlsOptions())


def _build_context(options: TlsOptions) -> BackendTlsContext:
    context = BackendTlsContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname check and CERT_REQUIRED on
    context.minimum_version = MIN_VERSIONS[options.min_version]
    context.server_name = options.server_name
    context.pins = frozenset(_pin_digest(pin) for pin in options.pin_sha256)
    if options.ca_file is None:
        context.load_default_certs()
    else:
        try:
            context.load_verify_locations(cafile=options.ca_file)
        except ssl.SSLError:
            raise KeyProblem("ca_file", f"{options.ca_file}: no PEM certificate in it") from None
        except OSError as exc:
            raise KeyProblem("ca_file", f"{options.ca_file}: {exc.strerror}") from None
    _load_identity(context, options)
    return context


def _load_identity(context: ssl.SSLContext, options: TlsOptions) -> None:
    """The client certificate and its key; both or neither."""
    if options.client_key is None and options.client_cert is None:
        return
    if options.client_cert is None:
        raise KeyProblem("client_key", "given without client_cert (the certificate the key belongs to)")
    if options.client_key is None:
        raise KeyProblem("client_cert", "given without client_key (a secret: ${file:PATH} of the PEM key)")
    try:
        x509.load_pem_x509_certificates(Path(options.client_cert).read_bytes())
    except OSError as exc:
        raise KeyProblem("client_cert", f"{options.client_cert}: {exc.strerror}") from None
    except ValueError:
        raise KeyProblem("client_cert", f"{options.client_cert}: no PEM certificate in it") from None
    password = options.client_key_password.get_secret_value() if options.client_key_password else None
    with _key_file(options.client_key.get_secret_value()) as key_path:
        try:
            context.load_cert_chain(options.client_cert, key_path, password)
        except ssl.SSLError as exc:
            # The message never quotes the key: it is a secret.
            reason = (
                "does not belong to client_cert"
                if exc.reason == "KEY_VALUES_MISMATCH"
                else "not a PEM private key (or client_key_password is wrong)"
            )
            raise KeyProblem("client_key", reason) from None
    if isinstance(context, BackendTlsContext):
        context.client_certificate = True


@contextlib.contextmanager
def _key_file(pem: str) -> Iterator[str]:
    """The key as a path OpenSSL can read (it loads keys only from files): an anonymous
    in-memory file where the system has them, else a private temporary file removed at once."""
    data = (pem.rstrip("\n") + "\n").encode()
    if hasattr(os, "memfd_create"):
        descriptor = os.memfd_create("gateway-tls-key", os.MFD_CLOEXEC)
        try:
            with open(descriptor, "wb", closefd=False) as file:
                file.write(data)
            yield f"/proc/self/fd/{descriptor}"
        finally:
            os.close(descriptor)
        return
    with tempfile.TemporaryDirectory() as directory:  # created 0700
        path = Path(directory, "key.pem")
        path.touch(0o600)
        path.write_bytes(data)
        yield str(path)


def tls_failure(exc: BaseException, context: ssl.SSLContext | None = None) -> str | None:
    """What went wrong with TLS, for the agent and the operator, when `exc` (or an exception
    it was raised from) is an SSL error, or, on a connection made with `context`, a reset
    (see `closed_after_handshake`); None for any other failure."""
    found = _ssl_error(exc, set())
    if found is None:
        reset = _raised_from(exc, (ConnectionResetError, ConnectionAbortedError, BrokenPipeError), set())
        return closed_after_handshake(context) if context is not None and reset else None
    if isinstance(found, ssl.SSLCertVerificationError):
        return f"TLS certificate verify failed: {found.verify_message}"
    reason = str(found.reason or "")
    return f"TLS handshake failed: {_REASONS.get(reason, reason.lower().replace('_', ' ') or str(found))}"


def closed_after_handshake(context: ssl.SSLContext) -> str:
    """What to say when a backend drops a TLS connection without a word. A TLS 1.3 server
    checks the client certificate only after the client's side of the handshake is done,
    and many (asyncio's among them) then reset the connection instead of sending an alert
    the client could read: the likeliest cause is named, as a likely one."""
    if isinstance(context, BackendTlsContext) and context.client_certificate:
        return (
            "TLS connection closed by the backend before it answered: did it refuse the gateway's client certificate?"
        )
    return (
        "TLS connection closed by the backend before it answered: does it require a client certificate? "
        "(tls.client_cert is not set)"
    )


def _ssl_error(exc: BaseException, seen: set[int]) -> ssl.SSLError | None:
    found = _raised_from(exc, (ssl.SSLError,), seen)
    return found if isinstance(found, ssl.SSLError) else None


def _raised_from(
    exc: BaseException | None, kinds: tuple[type[BaseException], ...], seen: set[int]
) -> BaseException | None:
    """The first exception of `kinds` in `exc`, its causes and contexts, and the members of
    exception groups (httpx re-raises its own errors from the ssl one; the MCP SDK groups them)."""
    if exc is None or id(exc) in seen:
        return None
    seen.add(id(exc))
    # Want-read and want-write only say "more bytes needed": the buffers' flow, not a failure.
    if isinstance(exc, kinds) and not isinstance(exc, ssl.SSLWantReadError | ssl.SSLWantWriteError):
        return exc
    inner = list(exc.exceptions) if isinstance(exc, BaseExceptionGroup) else []
    for candidate in (*inner, exc.__cause__, exc.__context__):
        found = _raised_from(candidate, kinds, seen)
        if found is not None:
            return found
    return None


def plain_http(url: str | None) -> bool:
    return url is not None and url.lower().startswith("http://")


def check_scheme(tls: TlsOptions | None, url: str | None, key: str) -> None:
    """A `tls` section beside an http:// URL would never be used: a config error, not a surprise."""
    if tls is not None and plain_http(url):
        raise KeyProblem("tls", f"given, but {key} is http://: use https:// for TLS")


def cleartext_over_http(url: str | None, key: str, credentials: str) -> str | None:
    """The warning when `credentials` go to an http:// `url` (the option `key`); else None."""
    return f"{credentials} travel unencrypted: {key} is http:// (use https://)" if plain_http(url) else None
