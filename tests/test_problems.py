"""One error shape: every HTTP endpoint answers a refusal with an RFC 9457 problem
document, and every 401 carries the same bearer challenge."""

from __future__ import annotations

import httpx
import pytest

from gateway.problems import PROBLEM_MEDIA_TYPE, TYPE_PREFIX
from tests.support.gateway import RunningGateway

#: (method, path) of one endpoint of each family, and the role it requires (None: any agent).
ENDPOINTS = [
    ("GET", "/v1/tools", None),
    ("GET", "/openapi.json", None),
    ("GET", "/v1/calls/nope", None),
    ("GET", "/v1/approvals", "approver"),
    ("POST", "/v1/approvals/nope/approve", "approver"),
    ("GET", "/v1/audit/calls", "auditor"),
    ("GET", "/v1/audit/records/1", "auditor"),
    ("POST", "/v1/admin/policy/reload", "gateway-admin"),
]


def _assert_problem(response: httpx.Response, status: int, kind: str) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    body = response.json()
    assert body["type"] == TYPE_PREFIX + kind and body["status"] == status
    assert isinstance(body["title"], str) and isinstance(body["detail"], str) and body["detail"]
    return body


@pytest.mark.parametrize(("method", "path", "role"), [*ENDPOINTS, ("POST", "/mcp", None)])
async def test_no_token_is_the_same_401_everywhere(echo_gateway: RunningGateway, method: str, path: str, role) -> None:
    async with httpx.AsyncClient(base_url=echo_gateway.url) as http:
        response = await http.request(method, path, headers={"Authorization": "Bearer forged.token.value"})
    body = _assert_problem(response, 401, "unauthenticated")
    challenge = response.headers["www-authenticate"]
    # RFC 9728: every 401 names the protected-resource metadata, so MCP clients find the IdP.
    assert challenge.startswith('Bearer realm="agent-gateway", resource_metadata="')
    assert 'error="invalid_token", error_description="' in challenge
    assert str(body["detail"]) in challenge


@pytest.mark.parametrize(("method", "path", "role"), [e for e in ENDPOINTS if e[2]])
async def test_a_missing_role_is_the_same_403_everywhere(
    echo_gateway: RunningGateway, method: str, path: str, role: str
) -> None:
    token = echo_gateway.token("agent-without-roles", ("tester",))
    async with httpx.AsyncClient(base_url=echo_gateway.url) as http:
        response = await http.request(method, path, headers={"Authorization": f"Bearer {token}"})
    body = _assert_problem(response, 403, "forbidden")
    roles = echo_gateway.config.approvals.approver_roles if role == "approver" else (role,)
    expected = f"the {role!r} role" if len(roles) == 1 else f"one of the roles: {', '.join(sorted(roles))}"
    if role == "approver":  # approver roles are resolved per tenant (gateway.approvals.scope)
        expected = f"one of the approver roles: {', '.join(sorted(roles))}"
    assert body["detail"] == f"requires {expected}"


async def test_bad_requests_are_problems_on_every_api(echo_gateway: RunningGateway) -> None:
    roles = ("approver", "auditor", "tester")
    headers = {"Authorization": f"Bearer {echo_gateway.token('operator', roles)}"}
    async with httpx.AsyncClient(base_url=echo_gateway.url, headers=headers) as http:
        _assert_problem(await http.get("/v1/approvals", params={"limit": "many"}), 400, "bad_request")
        _assert_problem(await http.get("/v1/approvals/nope"), 404, "not_found")
        _assert_problem(await http.get("/v1/audit/calls", params={"limit": "many"}), 400, "bad_request")
        _assert_problem(await http.get("/v1/audit/traces/nope"), 404, "not_found")
        json = {"Content-Type": "application/json"}
        _assert_problem(await http.post("/v1/tools/echo.echo:call", content=b"{", headers=json), 400, "malformed_json")
        _assert_problem(await http.get("/v1/calls/nope"), 404, "not_found")
