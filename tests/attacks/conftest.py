"""The attacks of the promise issue, replayed end to end: the gateway on the shipped
policies (a private copy a test may edit and reload), the SAP OData stub and the
mainframe stub as backends, real JWTs, the REST and MCP front doors."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

from connectors.mainframe.stub import MainframeStub, serve_mainframe
from connectors.sap import stub as sap_stub
from gateway.serving import running
from tests.support.attacks import SAP_SERVICE, Backends
from tests.support.stores import postgres_backend


@pytest.fixture
def attack_policy(policy_dir: Path) -> Path:
    # The shipped test cases pin the shipped rules; the attacks edit rules and reload,
    # so the copy goes without them (a reload would otherwise be refused by a case).
    (policy_dir / "cases.yaml").unlink()
    return policy_dir


@pytest.fixture(params=["sqlite", "postgres"])
async def approvals_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """The approvals settings of a store: SQLite beside the audit log, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield {}
        return
    async with postgres_backend() as backend:
        yield {"database": backend.database}


@pytest.fixture
async def backends(attack_policy: Path) -> AsyncIterator[Backends]:
    sap: Starlette = sap_stub.create_app(username="gateway", password="s3cret")
    async with running(sap) as url, serve_mainframe(password="pw") as mainframe:
        yield Backends(url + SAP_SERVICE, sap, mainframe)


__all__ = ["MainframeStub"]
