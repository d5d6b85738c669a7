"""`kind: mtls`: the backend knows the gateway by its TLS client certificate, so no header
credential is sent. The certificate and its key are the connector's `tls.client_cert` and
`tls.client_key` (connectors.tls); a stanza naming this kind without them is refused at
load time (connectors.options). The audit record names the certificate's subject as the
identity the backend saw."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509

from connectors.auth.credential import Credential
from connectors.base import CallContext


def certificate_identity(client_cert: str) -> dict[str, str]:
    """Who the backend sees, for the audit record: the subject and serial of the certificate
    in `client_cert` (the stanza's `tls.client_cert`, checked at load time)."""
    certificate = x509.load_pem_x509_certificate(Path(client_cert).read_bytes())
    return {"kind": "mtls", "subject": certificate.subject.rfc4514_string(), "serial": f"{certificate.serial_number:x}"}


class ClientCertificate:
    """The TLS layer presents the certificate (connectors.tls.client_context); this only
    names it for the audit record."""

    acts_for_caller = False

    def __init__(self, client_cert: str) -> None:
        self._credential = Credential(identity=certificate_identity(client_cert))

    async def credential(self, context: CallContext | None) -> Credential:
        return self._credential

    def rejected(self, credential: Credential) -> bool:
        return False  # the same certificate would be refused again

    async def close(self) -> None:
        return None
