"""The CICS protocol carries a verified user: the connector sends the token exchanged for
the caller in the frame's token field, the stub region verifies it through oidc-provider's
keys, maps its subject to a RACF user and lets it run only that user's transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator

import jwt
import pytest

from connectors.base import BackendError, Connector, create_connector
from connectors.mainframe.stub import MainframeStub, RacfUser, serve_mainframe
from connectors.stub_tokens import StubTokens
from gateway.config import ConnectorSettings
from tests.connectors.auth.conftest import CICS_AUDIENCE, context_for, exchange_auth, person_token
from tests.support.oidc_idp import Idp

USERS = {
    "alice": RacfUser("ALICE01", frozenset({"AINQ", "XFER", "XFEV"})),
    "bob": RacfUser("BOB01", frozenset({"AINQ"})),
}
TRANSFER = {"from_account": 1000000002, "to_account": 1000000004, "amount": 12.5, "reference": "Team lunch"}


@pytest.fixture
async def region(idp: Idp) -> AsyncIterator[tuple[MainframeStub, Connector]]:
    async with serve_mainframe(tokens=StubTokens(idp.issuer, CICS_AUDIENCE), users=USERS) as stub:
        options = {"host": "127.0.0.1", "port": stub.port, "auth": exchange_auth(idp, CICS_AUDIENCE)}
        connector = create_connector(ConnectorSettings("mainframe", "mainframe", 5.0, options))
        try:
            yield stub, connector
        finally:
            await connector.close()


async def test_each_person_runs_only_their_own_transactions(
    idp: Idp, region: tuple[MainframeStub, Connector], public_url: str
) -> None:
    stub, connector = region
    bob_token = await person_token(idp, "bob", public_url)
    bob = context_for("bob", bob_token)
    alice = context_for("alice", await person_token(idp, "alice", public_url))
    assert not (await connector.call("account_inquiry", {"account_number": 1000000002}, bob)).is_error
    with pytest.raises(
        BackendError,
        match=r"^transaction XFER abended AEY7: not authorized: user BOB01 may not run transaction XFER "
        r"\(RACF class TCICSTRN\)$",
    ):
        await connector.call("funds_transfer", TRANSFER, bob)
    moved = await connector.call("funds_transfer", TRANSFER, alice)
    assert moved.structured is not None and moved.structured["confirmation"]
    # The frame carried a token issued for the region, naming the person; no password.
    frame = stub.requests[-1]
    assert (frame.user, frame.password) == ("", "")
    assert jwt.decode(frame.token, options={"verify_signature": False})["sub"] == "alice"
    assert frame.token != bob_token and frame.token not in repr(frame)
    assert alice.backend.identity is not None and alice.backend.identity["subject"] == "alice"


async def test_a_token_for_another_region_is_refused(idp: Idp, public_url: str) -> None:
    async with serve_mainframe(tokens=StubTokens(idp.issuer, "https://cics.example.com/OTHER"), users=USERS) as stub:
        options = {"host": "127.0.0.1", "port": stub.port, "auth": exchange_auth(idp, CICS_AUDIENCE)}
        connector = create_connector(ConnectorSettings("mainframe", "mainframe", 5.0, options))
        alice = context_for("alice", await person_token(idp, "alice", public_url))
        refusal = r"abended AEY7: not authorized: sign-on token rejected \(Audience doesn't match\)$"
        with pytest.raises(BackendError, match=refusal):
            await connector.call("account_inquiry", {"account_number": 1000000002}, alice)
        await connector.close()


async def test_a_region_without_an_identity_provider_refuses_tokens(idp: Idp, public_url: str) -> None:
    async with serve_mainframe() as stub:
        options = {"host": "127.0.0.1", "port": stub.port, "auth": exchange_auth(idp, CICS_AUDIENCE)}
        connector = create_connector(ConnectorSettings("mainframe", "mainframe", 5.0, options))
        alice = context_for("alice", await person_token(idp, "alice", public_url))
        with pytest.raises(BackendError, match=r"AEY7: not authorized: this region accepts no sign-on tokens"):
            await connector.call("account_inquiry", {"account_number": 1000000002}, alice)
        await connector.close()
