"""Finding 4: an Idempotency-Key replay skipped policy and audit. After the caller's role
was removed, replaying the key still returned the stored 200 with no audit record.

Now a replay is authenticated (the bearer gate runs on every request), decided by the
policy in force and recorded (`call.received`, `call.decided`, `call.replayed`) before
the stored answer is returned, and the answer says it is a replay."""

from __future__ import annotations

from pathlib import Path

from tests.support.attacks import Backends, attack_gateway, bearer, call, edit_policy, of_call, reloaded
from tests.support.gateway import GatewayFactory

TOOL = "sap.create_purchase_order"
SMALL = {"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"}


async def test_a_replay_after_the_role_was_removed_is_denied_and_audited(
    start_gateway: GatewayFactory, backends: Backends, attack_policy: Path
) -> None:
    key = {"Idempotency-Key": "po-950"}
    async with attack_gateway(start_gateway, backends) as gw:
        buyer = bearer(gw, "buyer-bot", "acme-buyer", tenant="acme")
        first = await call(gw, TOOL, SMALL, buyer, **key)
        replay = await call(gw, TOOL, SMALL, buyer, **key)
        forged = await call(gw, TOOL, SMALL, {"Authorization": "Bearer not-a-token"}, **key)
        edit_policy(attack_policy, "g, acme-buyer, procurement-agent, acme", "", "roles.csv")
        await reloaded(gw)
        refused = await call(gw, TOOL, SMALL, buyer, **key)
        without_key = await call(gw, TOOL, SMALL, buyer)

    assert first.status_code == 200, first.text
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["replayed"] is True and replay.json()["replay_of"] == first.json()["call_id"]
    assert forged.status_code == 401
    assert refused.status_code == without_key.status_code == 403
    assert refused.json()["type"] == "urn:agent-gateway:problem:denied"
    assert "Idempotent-Replayed" not in refused.headers and "replayed" not in refused.json()
    assert len(backends.sap_writes()) == 1, "only the first request reached SAP"

    replayed = of_call(gw, replay.json()["call_id"])
    assert [r.kind for r in replayed] == ["call.received", "call.decided", "call.replayed"]
    assert replayed[-1].data == {"source": "idempotency_key", "replay_of": first.json()["call_id"]}
    denied = of_call(gw, refused.json()["call_id"])
    assert [r.kind for r in denied] == ["call.received", "call.decided"]
    assert denied[-1].data["effect"] == "deny"
