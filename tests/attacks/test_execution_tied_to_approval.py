"""Finding 5: the execution of an approved call was not tied to its approval in the log:
the executing retry's records had a new call id and no approval id, and its
`call.decided` still said "needs 2 approvals by cfo" before a `call.forwarded` with no
cfo vote.

Now every record of the execution names the approval, its `call.decided` (stage
"execution") lists the votes that satisfied the rule, and retries answered with the stored
result are recorded as `call.replayed` with the approval id: searching the log for the
approval id tells the whole story."""

from __future__ import annotations

from tests.support.attacks import ORDER, Backends, approve, attack_gateway, bearer, call, held, of_call, records
from tests.support.gateway import GatewayFactory

TOOL = "sap.create_purchase_order"


async def test_the_executing_retry_names_the_approval_and_the_votes(
    start_gateway: GatewayFactory, backends: Backends
) -> None:
    async with attack_gateway(start_gateway, backends) as gw:
        buyer = bearer(gw, "buyer-bot", "acme-buyer", tenant="acme")
        approval_id = await held(gw, TOOL, ORDER, buyer)
        assert (
            await approve(gw, approval_id, bearer(gw, "alice", "finance-approver", tenant="acme"))
        ).status_code == 200
        executed = await call(gw, TOOL, ORDER, buyer)
        again = await call(gw, TOOL, ORDER, buyer)
    assert executed.status_code == again.status_code == 200
    assert len(backends.sap_writes()) == 1
    assert "replayed" not in executed.json()
    assert (again.json()["replayed"], again.json()["approval_id"]) == (True, approval_id), "the retry says so"

    execution = [r for r in of_call(gw, executed.json()["call_id"])]
    kinds = [r.kind for r in execution]
    assert kinds == ["call.received", "call.decided", "call.decided", "call.forwarded", "call.completed"]
    at_execution = execution[2].data
    assert at_execution["stage"] == "execution" and at_execution["effect"] == "approve"
    assert at_execution["approval_id"] == approval_id
    assert at_execution["votes"] == [
        {"approver": "alice", "issuer": "agent-gateway", "tenant": "acme", "roles": ["finance-approver"]}
    ]
    assert execution[3].data["approval_id"] == execution[4].data["approval_id"] == approval_id

    replayed = of_call(gw, again.json()["call_id"])
    assert [r.kind for r in replayed] == ["call.received", "call.decided", "call.replayed"]
    assert replayed[-1].data == {"source": "approval", "approval_id": approval_id}

    story = [r.kind for r in records(gw) if r.data.get("approval_id") == approval_id]
    assert story == [
        "approval.requested",
        "approval.voted",
        "approval.decided",
        "call.decided",
        "call.forwarded",
        "call.completed",
        "call.replayed",
    ]
