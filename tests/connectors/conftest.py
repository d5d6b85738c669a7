"""Fixtures of the connector tests: a throwaway PKI for the TLS tests."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.pki import CertificateAuthority, Issued


@dataclass(frozen=True)
class Pki:
    """What the TLS tests need: the CA the gateway trusts and one it does not, a valid,
    an expired and a wrongly named server certificate, and a client certificate for mTLS."""

    ca: CertificateAuthority
    other_ca: CertificateAuthority
    server: Issued
    expired: Issued
    elsewhere: Issued
    client: Issued
    stranger: Issued


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory: Path = tmp_path_factory.mktemp("pki")
    ca = CertificateAuthority(directory / "ca")
    other_ca = CertificateAuthority(directory / "other", "Other CA")
    return Pki(
        ca=ca,
        other_ca=other_ca,
        server=ca.issue("backend"),
        expired=ca.issue("expired-backend", expired=True),
        elsewhere=ca.issue("erp-backend", hosts=("erp.example",)),
        client=ca.issue("gateway-client", client=True),
        stranger=other_ca.issue("stranger-client", client=True),
    )
