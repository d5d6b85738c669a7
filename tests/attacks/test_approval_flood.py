"""Finding 11: one agent could bury real approvals: 300 held approvals in 8 s, no cap, and
the console showed only the newest 200, so an older real request dropped out of view.

Now each requester may have `approvals.max_pending_per_principal` pending approvals; past
that its calls are refused (429, audited as `approval.refused`) while other requesters
are unaffected, and the listing pages through every pending approval, newest or oldest
first."""

from __future__ import annotations

from tests.support.attacks import ORDER, Backends, api, attack_gateway, bearer, call, held, records
from tests.support.gateway import GatewayFactory

TOOL = "sap.create_purchase_order"


async def test_a_flooding_agent_is_capped_and_the_oldest_request_stays_reachable(
    start_gateway: GatewayFactory, backends: Backends, approvals_database: dict[str, str]
) -> None:
    async with attack_gateway(start_gateway, backends, max_pending_per_principal=5, **approvals_database) as gw:
        honest = bearer(gw, "buyer-bot", "procurement-agent")
        real = await held(gw, TOOL, ORDER, honest)
        flooder = bearer(gw, "flood-bot", "procurement-agent")
        flood = [await held(gw, TOOL, {**ORDER, "amount": 30000 + i}, flooder) for i in range(5)]
        capped = await call(gw, TOOL, {**ORDER, "amount": 39999}, flooder, Prefer="respond-async")
        rejoined = await call(gw, TOOL, {**ORDER, "amount": 30000}, flooder, Prefer="respond-async")
        other = await call(gw, TOOL, {**ORDER, "amount": 21000}, honest, Prefer="respond-async")

        alice = bearer(gw, "alice", "finance-approver")
        newest = await pages(gw, alice, "newest")
        oldest = await pages(gw, alice, "oldest")
        first_page = (await api(gw, "GET", "/v1/approvals?order=oldest&limit=1", alice)).json()

    assert capped.status_code == 429, capped.text
    assert capped.json()["type"] == "urn:agent-gateway:problem:approvals_capped"
    assert "you already have 5 calls waiting for approval (the limit is 5)" in capped.json()["detail"]
    assert rejoined.status_code == 202 and rejoined.json()["approval_id"] == flood[0], "a retry joins its approval"
    assert other.status_code == 202, "other requesters are not capped"
    (refusal,) = [r for r in records(gw) if r.kind == "approval.refused"]
    assert refusal.data["requester"]["subject"] == "flood-bot"

    everything = {real, *flood, other.json()["approval_id"]}
    assert set(newest) == set(oldest) == everything and len(newest) == 7
    assert oldest == newest[::-1]
    assert first_page["approvals"][0]["approval_id"] == real and first_page["total"] == 7


async def pages(gw, headers: dict[str, str], order: str) -> list[str]:
    """Every pending approval id, two per page, following next_cursor."""
    ids: list[str] = []
    cursor = None
    while True:
        params = {"order": order, "limit": "2", **({"cursor": cursor} if cursor else {})}
        body = (await api(gw, "GET", "/v1/approvals", headers, params=params)).json()
        ids += [a["approval_id"] for a in body["approvals"]]
        cursor = body["next_cursor"]
        if cursor is None:
            return ids
