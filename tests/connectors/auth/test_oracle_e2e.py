"""The ORDS connector acting for the caller: the stub verifies the exchanged token through
oidc-provider's keys, maps its subject to a database user, and that user's privileges
decide; the salary history names the person, not a technical user."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from connectors.base import BackendError, Connector, create_connector
from connectors.oracle import stub as oracle_stub
from connectors.oracle.stub import SALARY_PRIVILEGE, OrdsUser
from connectors.stub_tokens import StubTokens
from connectors.stubkit import serve_app
from gateway.config import ConnectorSettings
from tests.connectors.auth.conftest import ORDS_AUDIENCE, context_for, exchange_auth, person_token
from tests.support.oidc_idp import Idp

USERS = {"carol": OrdsUser("CAROL", frozenset({SALARY_PRIVILEGE})), "dave": OrdsUser("DAVE")}
RAISE = {"employee_id": 103, "salary": 9500, "reason": "annual review"}


@pytest.fixture
async def ords(idp: Idp, tmp_path: Path) -> AsyncIterator[tuple[Starlette, Connector]]:
    app = oracle_stub.create_app(tmp_path / "hr.db", tokens=StubTokens(idp.issuer, ORDS_AUDIENCE), users=USERS)
    async with serve_app(app) as base_url:
        options = {"url": base_url + "/ords/hr", "auth": exchange_auth(idp, ORDS_AUDIENCE)}
        connector = create_connector(ConnectorSettings("hr", "oracle", 5.0, options))
        await connector.start()
        try:
            yield app, connector
        finally:
            await connector.close()


async def test_the_persons_own_privileges_decide(
    idp: Idp, ords: tuple[Starlette, Connector], public_url: str, tmp_path: Path
) -> None:
    _, connector = ords
    dave = context_for("dave", await person_token(idp, "dave", public_url))
    carol = context_for("carol", await person_token(idp, "carol", public_url))
    with pytest.raises(
        BackendError,
        match=r"^User DAVE lacks the privilege oracle\.hr\.salary\.update required by hr_api \(HTTP 403\)$",
    ):
        await connector.call("update_salary", RAISE, dave)
    read = await connector.call("get_employee", {"employee_id": 103}, dave)  # reading needs no privilege
    assert not read.is_error
    changed = await connector.call("update_salary", RAISE, carol)
    assert changed.structured == {"salary_change": {"employee_id": 103, "old_salary": 9000, "new_salary": 9500}}
    with sqlite3.connect(tmp_path / "hr.db") as db:
        assert db.execute("SELECT changed_by FROM salary_history").fetchall() == [("CAROL",)]
    assert carol.backend.identity is not None and carol.backend.identity["subject"] == "carol"
    assert dave.backend.identity is not None and dave.backend.identity["subject"] == "dave"


async def test_a_token_for_another_backend_is_refused_by_ords(idp: Idp, tmp_path: Path, public_url: str) -> None:
    """A token exchanged for SAP does not open ORDS: the stub checks the audience."""
    app = oracle_stub.create_app(tmp_path / "other.db", tokens=StubTokens(idp.issuer, "https://other.example"))
    async with serve_app(app) as base_url:
        options = {"url": base_url + "/ords/hr", "auth": exchange_auth(idp, ORDS_AUDIENCE)}
        connector = create_connector(ConnectorSettings("hr", "oracle", 5.0, options))
        await connector.start()
        try:
            with pytest.raises(
                BackendError, match=r"^backend rejected the credential the gateway presented \(HTTP 401\)$"
            ):
                await connector.call(
                    "get_employee",
                    {"employee_id": 103},
                    context_for("carol", await person_token(idp, "carol", public_url)),
                )
        finally:
            await connector.close()
