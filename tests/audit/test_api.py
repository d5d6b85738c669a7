from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request

from gateway.audit import AuditLog
from gateway.audit.api import routes
from gateway.audit.checkpoint import load_public_key
from gateway.audit.proof import check_proof
from gateway.config import IdentitySettings
from gateway.identity import TokenVerifier, bearer_token
from gateway.models import Principal
from gateway.serving import running
from tests.support.audit import make_keys, settings, write_calls

IDENTITY = IdentitySettings(secret="audit-api-test-secret-0123456789abcdef")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, TokenVerifier, Path]]:
    private, public = make_keys(tmp_path)
    log = await AuditLog.open(settings(tmp_path, private, every=5))
    await write_calls(log, 6)
    verifier = TokenVerifier(IDENTITY, tmp_path)

    def authorize(request: Request) -> Principal:
        return verifier.verify(bearer_token(request.headers))

    try:
        async with running(Starlette(routes=routes(log, authorize))) as url, httpx.AsyncClient(base_url=url) as client:
            yield client, verifier, public
    finally:
        await log.close()


def _auditor(verifier: TokenVerifier) -> dict[str, str]:
    return {"Authorization": f"Bearer {verifier.mint('alice', ('auditor',))}"}


async def test_calls_are_searchable_by_an_auditor(served) -> None:
    client, verifier, _ = served
    response = await client.get(
        "/v1/audit/calls", params={"agent": "agent-x", "outcome": "allow"}, headers=_auditor(verifier)
    )
    assert response.status_code == 200
    body = response.json()
    assert [c["call_id"] for c in body["calls"]] == ["call-0", "call-2"]
    assert body["calls"][0]["status"] == "ok" and body["next_after"] is None


async def test_calls_page_on(served) -> None:
    client, verifier, _ = served
    first = (await client.get("/v1/audit/calls", params={"limit": 4}, headers=_auditor(verifier))).json()
    assert [c["call_id"] for c in first["calls"]] == ["call-0", "call-1", "call-2", "call-3"]
    rest = await client.get("/v1/audit/calls", params={"after": first["next_after"]}, headers=_auditor(verifier))
    assert [c["call_id"] for c in rest.json()["calls"]] == ["call-4", "call-5"]


async def test_a_trace_tells_the_story_of_its_call(served) -> None:
    client, verifier, _ = served
    response = await client.get(f"/v1/audit/traces/{4:032x}", headers=_auditor(verifier))
    assert response.status_code == 200
    [call] = response.json()["calls"]
    assert [r["kind"] for r in call["records"]] == ["call.received", "call.decided", "call.rejected"]
    missing = await client.get("/v1/audit/traces/nope", headers=_auditor(verifier))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no call with trace id nope"


async def test_a_story_is_found_by_call_trace_or_approval_id(served) -> None:
    client, verifier, _ = served
    by_call = (await client.get("/v1/audit/story/call-4", headers=_auditor(verifier))).json()
    by_trace = (await client.get(f"/v1/audit/story/{4:032x}", headers=_auditor(verifier))).json()
    assert by_call["calls"] == by_trace["calls"]
    assert [r["kind"] for r in by_call["calls"][0]["records"]] == ["call.received", "call.decided", "call.rejected"]
    missing = await client.get("/v1/audit/story/apr_nope", headers=_auditor(verifier))
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no call with call id, trace id or approval id apr_nope"


async def test_records_tail_and_single(served) -> None:
    client, verifier, _ = served
    tail = (await client.get("/v1/audit/records", params={"tail": 2}, headers=_auditor(verifier))).json()["records"]
    assert [r["seq"] for r in tail] == [22, 23]
    page = (await client.get("/v1/audit/records", params={"after": 20, "limit": 2}, headers=_auditor(verifier))).json()
    assert [r["seq"] for r in page["records"]] == [21, 22]
    one = (await client.get("/v1/audit/records/21", headers=_auditor(verifier))).json()
    assert one == page["records"][0]
    assert (await client.get("/v1/audit/records/999", headers=_auditor(verifier))).status_code == 404


async def test_a_proof_served_over_rest_checks_offline(served) -> None:
    client, verifier, public = served
    response = await client.get("/v1/audit/records/7/proof", headers=_auditor(verifier))
    assert response.status_code == 200
    record = check_proof(json.loads(response.text), load_public_key(public))
    assert record.seq == 7
    checkpoint = (await client.get("/v1/audit/checkpoint", headers=_auditor(verifier))).json()
    assert checkpoint["size"] == response.json()["tree_size"]


@pytest.mark.parametrize(
    ("params", "detail"),
    [
        ({"limit": "many"}, "query parameter 'limit' must be an integer, got 'many'"),
        ({"limit": "0"}, "query parameter 'limit' must be between 1 and 1000, got 0"),
        ({"since": "yesterday"}, "query parameter 'since': 'yesterday' is neither ISO 8601"),
        ({"agnet": "x"}, "unknown query parameter(s): agnet"),
    ],
)
async def test_bad_queries_get_a_precise_400(served, params: dict[str, str], detail: str) -> None:
    client, verifier, _ = served
    response = await client.get("/v1/audit/calls", params=params, headers=_auditor(verifier))
    assert response.status_code == 400
    assert response.json()["detail"].startswith(detail)


async def test_no_token_is_401_and_no_auditor_role_is_403(served) -> None:
    client, verifier, _ = served
    missing = await client.get("/v1/audit/calls")
    assert missing.status_code == 401
    assert "missing bearer token" in missing.json()["error_description"]
    forged = await client.get("/v1/audit/calls", headers={"Authorization": "Bearer not.a.jwt"})
    assert forged.status_code == 401
    agent = {"Authorization": f"Bearer {verifier.mint('agent-x', ('clerk',))}"}
    forbidden = await client.get("/v1/audit/records", headers=agent)
    assert forbidden.status_code == 403
    assert forbidden.json()["detail"] == "requires the 'auditor' role"
