"""Finding 1: approvals ignored tenants. An acme buyer's 20,000 EUR order was approved by a
finance-approver of globex, and any approver could list and read every held call.

Now approver roles are resolved per tenant through the policy: a globex approver sees
nothing of acme's held calls (404 on the id), cannot vote, and only an explicit policy
grant (`g, ..., any-tenant:finance-approver, *`) lets a role act across tenants."""

from __future__ import annotations

from pathlib import Path

from tests.support.attacks import (
    ORDER,
    Backends,
    api,
    approve,
    attack_gateway,
    bearer,
    call,
    edit_policy,
    held,
    records,
)
from tests.support.gateway import GatewayFactory


async def test_an_approver_of_another_tenant_can_neither_see_nor_approve(
    start_gateway: GatewayFactory, backends: Backends, approvals_database: dict[str, str]
) -> None:
    async with attack_gateway(start_gateway, backends, **approvals_database) as gw:
        buyer = bearer(gw, "buyer-bot", "acme-buyer", tenant="acme")
        approval_id = await held(gw, "sap.create_purchase_order", ORDER, buyer)
        globex = bearer(gw, "mallory", "finance-approver", tenant="globex")

        listed = await api(gw, "GET", "/v1/approvals?state=all", globex)
        detail = await api(gw, "GET", f"/v1/approvals/{approval_id}", globex)
        vote = await approve(gw, approval_id, globex, "looks fine")
        retried = await call(gw, "sap.create_purchase_order", ORDER, buyer, Prefer="respond-async")

        assert listed.status_code == 200 and listed.json()["approvals"] == [] and listed.json()["total"] == 0
        assert detail.status_code == 404 and "20000" not in detail.text
        assert vote.status_code == 404
        assert retried.status_code == 202, "the order still waits for an acme approver"
        assert backends.sap_writes() == []

        acme = bearer(gw, "alice", "finance-approver", tenant="acme")
        mine = (await api(gw, "GET", "/v1/approvals", acme)).json()["approvals"]
        assert [a["approval_id"] for a in mine] == [approval_id]
        assert (await approve(gw, approval_id, acme, "budget 4711")).status_code == 200
        done = await call(gw, "sap.create_purchase_order", ORDER, buyer)
        assert done.status_code == 200, done.text
        assert len(backends.sap_writes()) == 1

    (voted,) = [r for r in records(gw) if r.kind == "approval.voted"]
    assert voted.data["approver"] == "alice"
    assert voted.data["approver_issuer"] == "agent-gateway"
    assert voted.data["approver_tenant"] == "acme"
    assert voted.data["approver_roles"] == ["finance-approver"]
    assert voted.data["approver_role_held"] == "finance-approver"
    assert voted.data["approver_role_via"] == "tenant acme"


async def test_a_role_acts_across_tenants_only_when_the_policy_grants_it(
    start_gateway: GatewayFactory, backends: Backends, attack_policy: Path
) -> None:
    edit_policy(attack_policy, "", "g, group-controller, any-tenant:finance-approver, *")
    async with attack_gateway(start_gateway, backends) as gw:
        buyer = bearer(gw, "buyer-bot", "acme-buyer", tenant="acme")
        approval_id = await held(gw, "sap.create_purchase_order", ORDER, buyer)
        # A token cannot grant itself the cross-tenant role: only the policy's g rows do.
        forged = bearer(gw, "mallory", "finance-approver", "any-tenant:finance-approver", tenant="globex")
        assert (await api(gw, "GET", f"/v1/approvals/{approval_id}", forged)).status_code == 404
        assert (await approve(gw, approval_id, forged)).status_code == 404

        controller = bearer(gw, "carol", "group-controller", tenant="globex")
        detail = (await api(gw, "GET", f"/v1/approvals/{approval_id}", controller)).json()["approval"]
        assert detail["vote"] == {"allowed": True, "reason": None}
        assert (await approve(gw, approval_id, controller, "group budget")).status_code == 200
        assert (await call(gw, "sap.create_purchase_order", ORDER, buyer)).status_code == 200

    (voted,) = [r for r in records(gw) if r.kind == "approval.voted"]
    assert (voted.data["approver"], voted.data["approver_tenant"]) == ("carol", "globex")
    assert voted.data["approver_role_via"] == "cross-tenant grant"


async def test_an_auditor_reads_its_tenant_and_cannot_vote(start_gateway: GatewayFactory, backends: Backends) -> None:
    async with attack_gateway(start_gateway, backends, auditor_roles=["approvals-auditor"]) as gw:
        buyer = bearer(gw, "buyer-bot", "acme-buyer", tenant="acme")
        approval_id = await held(gw, "sap.create_purchase_order", ORDER, buyer)
        auditor = bearer(gw, "audrey", "approvals-auditor", tenant="acme")
        other = bearer(gw, "oscar", "approvals-auditor", tenant="globex")
        seen = await api(gw, "GET", f"/v1/approvals/{approval_id}", auditor)
        vote = await approve(gw, approval_id, auditor)
        unseen = await api(gw, "GET", f"/v1/approvals/{approval_id}", other)
        plain = await api(gw, "GET", "/v1/approvals", bearer(gw, "bob", "procurement-agent", tenant="acme"))
    assert seen.status_code == 200 and seen.json()["approval"]["arguments"]["amount"] == 20000
    assert seen.json()["approval"]["vote"] == {
        "allowed": False,
        "reason": "audrey does not hold the approver role finance-approver for tenant acme",
    }
    assert vote.status_code == 403 and vote.json()["detail"] == seen.json()["approval"]["vote"]["reason"]
    assert unseen.status_code == 404
    assert plain.status_code == 403


async def test_approver_roles_inherited_through_g_rows_hold_in_their_tenant_only(
    start_gateway: GatewayFactory, backends: Backends, attack_policy: Path
) -> None:
    edit_policy(attack_policy, "", "g, finance-lead, finance-approver, acme", "roles.csv")
    async with attack_gateway(start_gateway, backends) as gw:
        buyer = bearer(gw, "buyer-bot", "acme-buyer", tenant="acme")
        approval_id = await held(gw, "sap.create_purchase_order", ORDER, buyer)
        # finance-lead is a finance-approver in acme only: in globex the same role is nothing.
        elsewhere = bearer(gw, "lena", "finance-lead", "approver", tenant="globex")
        assert (await api(gw, "GET", "/v1/approvals", elsewhere)).json()["approvals"] == []
        assert (await approve(gw, approval_id, elsewhere)).status_code == 404
        lead = bearer(gw, "lena", "finance-lead", tenant="acme")
        assert (await approve(gw, approval_id, lead, "lead approval")).status_code == 200
    (voted,) = [r for r in records(gw) if r.kind == "approval.voted"]
    assert voted.data["approver_roles"] == ["finance-lead"]
    assert (voted.data["approver_role_held"], voted.data["approver_role_via"]) == ("finance-approver", "tenant acme")
