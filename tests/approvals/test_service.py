"""The approval state machine through ApprovalService, on each store: a real SQLite file and
a fresh schema of the real PostgreSQL (skipped, or failed in CI, when it is absent)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from gateway.approvals import ApprovalError, ApprovalFilter, ApprovalService, ApprovalSettings
from gateway.approvals.service import INTERRUPTED_RESULT
from gateway.models import Approval, ApprovalState, Principal, ToolResult
from tests.support.approvals import AGENT, RecordingAudit, approver, digest, make_call, needs_approval
from tests.support.stores import postgres_backend


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield str(tmp_path / "gateway.db")
        return
    async with postgres_backend() as backend:
        yield backend.database


@pytest.fixture
def settings(database: str) -> ApprovalSettings:
    return ApprovalSettings(
        database=database, default_ttl_seconds=60, max_hold_seconds=30, max_pending_per_principal=1000
    )


@pytest.fixture
def audit() -> RecordingAudit:
    return RecordingAudit()


@pytest.fixture
async def service(settings: ApprovalSettings, audit: RecordingAudit) -> AsyncIterator[ApprovalService]:
    service = await ApprovalService.open(settings, audit)
    yield service
    await service.close()


async def pending_id(service: ApprovalService) -> str:
    """The id of the only pending approval, once the held call has created it."""
    async with asyncio.timeout(5):
        while not (rows := await service.list(ApprovalFilter())):
            await asyncio.sleep(0.01)
    assert len(rows) == 1
    return rows[0].approval.approval_id


async def test_quorum_of_two_releases_the_call_with_progress(service: ApprovalService, audit: RecordingAudit) -> None:
    call = make_call()
    progress: list[int] = []

    async def on_progress(approval: Approval) -> None:
        progress.append(len(approval.votes))

    held = asyncio.create_task(
        service.hold(call, needs_approval(2), digest(call), wait_seconds=10, on_progress=on_progress)
    )
    approval_id = await pending_id(service)
    first = await service.vote(approval_id, approver("alice"), True, "looks right")
    assert first.state is ApprovalState.PENDING
    await asyncio.sleep(0.05)
    assert not held.done()
    await service.vote(approval_id, approver("bob"), True, "")
    outcome = await asyncio.wait_for(held, 2)
    assert outcome.action == "execute"
    assert outcome.approval.state is ApprovalState.APPROVED
    assert [v.approver for v in outcome.approval.votes] == ["alice", "bob"]
    assert progress == [0, 1, 2]
    assert audit.kinds() == ["approval.requested", "approval.voted", "approval.voted", "approval.decided"]
    decided = audit.records[-1]
    assert decided[1] == {
        "approval_id": approval_id,
        "state": "approved",
        "approver": "bob",
        "approver_issuer": "agent-gateway",
        "approver_tenant": None,
        "approver_roles": ["approver"],
        "approver_role_held": "approver",
        "approver_role_via": "tenant (none)",
        "approve": True,
        "comment": "",
    }
    assert decided[2] == call.call_id


@pytest.mark.parametrize(
    ("voter", "message"),
    [
        (
            approver(AGENT.subject, "finance"),
            ("forbidden", "agent-7 requested this call and cannot vote on its own approval"),
        ),
        # Without the rule's role the approval is not even shown: same answer as a wrong id.
        (approver("carol", "approver"), ("not_found", "no approval with id {id}")),
    ],
)
async def test_refused_voters_change_nothing(service: ApprovalService, voter, message: tuple[str, str]) -> None:
    call = make_call()
    outcome = await service.hold(call, needs_approval(1, role="finance"), digest(call), wait_seconds=0)
    assert outcome.action == "pending"
    approval_id = outcome.approval.approval_id
    with pytest.raises(ApprovalError) as err:
        await service.vote(approval_id, voter, True, "ok")
    assert (err.value.kind, str(err.value)) == (message[0], message[1].format(id=approval_id))
    stored = await service.get(approval_id)
    assert stored.approval.state is ApprovalState.PENDING and stored.approval.votes == ()


async def test_default_roles_apply_when_the_rule_names_none(service: ApprovalService) -> None:
    call = make_call()
    outcome = await service.hold(call, needs_approval(1, role=None), digest(call), wait_seconds=0)
    with pytest.raises(ApprovalError, match=r"no approval with id"):
        await service.vote(outcome.approval.approval_id, approver("dave", "finance"), True, "")
    decided = await service.vote(outcome.approval.approval_id, approver("erin", "approver"), True, "")
    assert decided.state is ApprovalState.APPROVED


async def test_same_approver_twice_counts_once(service: ApprovalService) -> None:
    call = make_call()
    outcome = await service.hold(call, needs_approval(2), digest(call), wait_seconds=0)
    approval_id = outcome.approval.approval_id
    await service.vote(approval_id, approver("alice"), True, "")
    with pytest.raises(ApprovalError) as err:
        await service.vote(approval_id, approver("alice"), True, "again")
    assert err.value.kind == "conflict"
    assert str(err.value) == f"alice already voted on approval {approval_id}; a vote counts once"
    stored = await service.get(approval_id)
    assert stored.approval.state is ApprovalState.PENDING and len(stored.approval.votes) == 1


async def test_one_deny_ends_it(service: ApprovalService, audit: RecordingAudit) -> None:
    call = make_call()
    held = asyncio.create_task(service.hold(call, needs_approval(2), digest(call), wait_seconds=10))
    approval_id = await pending_id(service)
    await service.vote(approval_id, approver("alice"), True, "")
    with pytest.raises(ApprovalError, match="a deny needs a comment"):
        await service.vote(approval_id, approver("bob"), False, "  ")
    await service.vote(approval_id, approver("bob"), False, "wrong IBAN")
    outcome = await asyncio.wait_for(held, 2)
    assert outcome.action == "denied" and outcome.result is None
    with pytest.raises(ApprovalError, match=f"approval {approval_id} is already denied"):
        await service.vote(approval_id, approver("carol"), True, "")
    # A retry of the same call learns the outcome instead of opening a new approval.
    again = await service.hold(call, needs_approval(2), digest(call), wait_seconds=0)
    assert (again.action, again.approval.approval_id) == ("denied", approval_id)
    assert audit.kinds()[-1] == "approval.decided"


async def test_unknown_id(service: ApprovalService) -> None:
    with pytest.raises(ApprovalError) as err:
        await service.vote("apr_nope", approver("alice"), True, "")
    assert (err.value.kind, str(err.value)) == ("not_found", "no approval with id apr_nope")


async def test_expiry_is_a_deny_for_the_waiting_call(service: ApprovalService, audit: RecordingAudit) -> None:
    call = make_call()
    outcome = await asyncio.wait_for(service.hold(call, needs_approval(2, ttl=0.2), digest(call), wait_seconds=5), 2)
    assert outcome.action == "expired"
    assert outcome.approval.state is ApprovalState.EXPIRED
    assert audit.kinds() == ["approval.requested", "approval.expired"]
    with pytest.raises(ApprovalError, match="is already expired"):
        await service.vote(outcome.approval.approval_id, approver("alice"), True, "")


async def test_the_sweeper_expires_approvals_nobody_waits_for(service: ApprovalService, audit: RecordingAudit) -> None:
    call = make_call()
    outcome = await service.hold(call, needs_approval(1, ttl=0.15), digest(call), wait_seconds=0)
    assert outcome.action == "pending"
    async with asyncio.timeout(2):
        while (await service.get(outcome.approval.approval_id)).approval.state is ApprovalState.PENDING:
            await asyncio.sleep(0.02)
    assert audit.kinds() == ["approval.requested", "approval.expired"]


async def test_retries_join_one_approval_and_other_arguments_do_not(service: ApprovalService) -> None:
    call = make_call()
    outcomes = await asyncio.gather(
        *(service.hold(make_call(call.arguments), needs_approval(), digest(call), wait_seconds=0) for _ in range(10))
    )
    assert {o.approval.approval_id for o in outcomes} == {outcomes[0].approval.approval_id}
    other = make_call({"amount": 50_001, "to": "DE89370400440532013000"})
    separate = await service.hold(other, needs_approval(), digest(other), wait_seconds=0)
    assert separate.approval.approval_id != outcomes[0].approval.approval_id
    assert len(await service.list(ApprovalFilter())) == 2


async def test_an_approved_call_executes_exactly_once(service: ApprovalService) -> None:
    call = make_call()
    first = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
    retries = [
        asyncio.create_task(service.hold(make_call(call.arguments), needs_approval(1), digest(call), wait_seconds=5))
        for _ in range(20)
    ]
    await asyncio.sleep(0.05)
    await service.vote(first.approval.approval_id, approver("alice"), True, "")
    async with asyncio.timeout(2):
        while not any(t.done() for t in retries):
            await asyncio.sleep(0.005)
    done = [t.result() for t in retries if t.done()]
    assert [o.action for o in done] == ["execute"], "one caller executes; the others wait for its result"
    result = ToolResult.text("transferred")
    await service.record_result(first.approval.approval_id, result)
    outcomes = await asyncio.wait_for(asyncio.gather(*retries), 2)
    assert sorted(o.action for o in outcomes) == ["execute"] + ["replay"] * 19
    assert all(o.result == result for o in outcomes if o.action == "replay")
    later = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
    assert (later.action, later.result) == ("replay", result)
    with pytest.raises(ApprovalError, match="no claimed execution"):
        await service.record_result(first.approval.approval_id, result)


async def test_pending_when_the_wait_runs_out(service: ApprovalService) -> None:
    call = make_call()
    outcome = await asyncio.wait_for(service.hold(call, needs_approval(), digest(call), wait_seconds=0.1), 2)
    assert outcome.action == "pending" and outcome.approval.state is ApprovalState.PENDING


async def test_pending_approvals_and_executions_survive_a_restart(
    settings: ApprovalSettings, audit: RecordingAudit
) -> None:
    call, interrupted_call = make_call(), make_call({"amount": 1})
    service = await ApprovalService.open(settings, audit)
    pending = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
    other = await service.hold(interrupted_call, needs_approval(1), digest(interrupted_call), wait_seconds=0)
    await service.vote(other.approval.approval_id, approver("alice"), True, "")
    claimed = await service.hold(interrupted_call, needs_approval(1), digest(interrupted_call), wait_seconds=0)
    assert claimed.action == "execute"
    await service.close()  # stops before record_result: the execution's outcome is unknown

    service = await ApprovalService.open(settings, audit)
    try:
        held = asyncio.create_task(service.hold(call, needs_approval(1), digest(call), wait_seconds=5))
        await asyncio.sleep(0.05)
        await service.vote(pending.approval.approval_id, approver("alice"), True, "after restart")
        outcome = await asyncio.wait_for(held, 2)
        assert (outcome.action, outcome.approval.approval_id) == ("execute", pending.approval.approval_id)
        replay = await service.hold(interrupted_call, needs_approval(1), digest(interrupted_call), wait_seconds=0)
        assert (replay.action, replay.result) == ("replay", INTERRUPTED_RESULT)
    finally:
        await service.close()


async def test_no_audit_no_change(service: ApprovalService, audit: RecordingAudit) -> None:
    call = make_call()
    audit.fail = True
    with pytest.raises(ApprovalError) as err:
        await service.hold(call, needs_approval(), digest(call), wait_seconds=0)
    assert err.value.kind == "unavailable"
    assert await service.list(ApprovalFilter(states=None)) == []
    audit.fail = False
    outcome = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
    audit.fail = True
    with pytest.raises(ApprovalError, match="audit log is unavailable"):
        await service.vote(outcome.approval.approval_id, approver("alice"), True, "")
    stored = await service.get(outcome.approval.approval_id)
    assert stored.approval.state is ApprovalState.PENDING and stored.approval.votes == ()


async def test_hold_time_is_capped_by_max_hold_seconds(settings: ApprovalSettings, audit: RecordingAudit) -> None:

    service = await ApprovalService.open(settings.model_copy(update={"max_hold_seconds": 0.1}), audit)
    try:
        call = make_call()
        outcome = await asyncio.wait_for(service.hold(call, needs_approval(), digest(call), wait_seconds=3600), 2)
        assert outcome.action == "pending"
    finally:
        await service.close()


async def test_many_concurrent_holds_each_see_their_own_approval(service: ApprovalService) -> None:
    # Overlapping reads once pinned the reader to an old snapshot: a fresh approval was
    # then "not found" by the call that had just created it.
    calls = [make_call({"amount": i}) for i in range(300)]
    outcomes = await asyncio.wait_for(
        asyncio.gather(*(service.hold(c, needs_approval(), digest(c), wait_seconds=0.2) for c in calls)), 20
    )
    assert {o.action for o in outcomes} == {"pending"}
    assert len({o.approval.approval_id for o in outcomes}) == 300


def in_tenant(subject: str, tenant: str | None, *roles: str) -> Principal:
    return Principal(subject=subject, roles=roles, tenant=tenant, issuer=AGENT.issuer)


async def test_listing_shows_each_viewer_its_scope_page_by_page(service: ApprovalService) -> None:
    opened: list[str] = []
    for i, (tenant, role) in enumerate(
        [("acme", "finance"), ("globex", "finance"), ("acme", "hr"), ("acme", "finance")]
    ):
        call = make_call({"amount": i}, in_tenant(f"agent-{i}", tenant, "agent"))
        outcome = await service.hold(call, needs_approval(1, role=role), digest(call), wait_seconds=0)
        opened.append(outcome.approval.approval_id)

    async def visible(viewer: Principal, **query: object) -> list[str]:
        return [s.approval.approval_id for s in await service.list(ApprovalFilter(**query), viewer)]  # type: ignore[arg-type]

    acme_finance = in_tenant("alice", "acme", "finance")
    assert await visible(acme_finance) == [opened[3], opened[0]]
    assert await visible(in_tenant("gina", "globex", "finance")) == [opened[1]]
    assert await visible(in_tenant("hank", "acme", "hr")) == [opened[2]]
    assert await visible(in_tenant("nobody", None, "finance")) == []
    assert await service.count(ApprovalFilter(), acme_finance) == 2
    first = await service.list(ApprovalFilter(limit=1, oldest_first=True), acme_finance)
    after = (first[0].approval.requested_at, first[0].approval.approval_id)
    assert await visible(acme_finance, limit=1, oldest_first=True, after=after) == [opened[3]]
    with pytest.raises(ApprovalError, match="no approval with id"):
        await service.get(opened[1], acme_finance)


async def test_pending_approvals_are_capped_per_requester(database: str, audit: RecordingAudit) -> None:
    settings = ApprovalSettings(database=database, default_ttl_seconds=60, max_pending_per_principal=2)
    service = await ApprovalService.open(settings, audit)
    try:
        calls = [make_call({"amount": i}) for i in range(3)]
        for c in calls[:2]:
            await service.hold(c, needs_approval(1), digest(c), wait_seconds=0)
        with pytest.raises(ApprovalError, match=r"you already have 2 calls waiting for approval \(the limit is 2\)"):
            await service.hold(calls[2], needs_approval(1), digest(calls[2]), wait_seconds=0)
        rejoined = await service.hold(calls[0], needs_approval(1), digest(calls[0]), wait_seconds=0)
        other = make_call({"amount": 2}, in_tenant("agent-8", None, "agent"))
        await service.hold(other, needs_approval(1), digest(other), wait_seconds=0)
    finally:
        await service.close()
    assert rejoined.action == "pending"
    assert audit.kinds().count("approval.refused") == 1
    assert audit.kinds().count("approval.requested") == 3


async def test_a_superseded_approval_refuses_every_retry_and_a_new_request_starts_afresh(
    service: ApprovalService, audit: RecordingAudit
) -> None:
    call = make_call()
    opened = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
    await service.vote(opened.approval.approval_id, approver("alice"), True, "")
    executing = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
    assert executing.action == "execute"
    await service.supersede(opened.approval.approval_id, "the policy in force now denies it")
    stored = await service.get(opened.approval.approval_id)
    assert stored.approval.state is ApprovalState.SUPERSEDED
    assert [v.roles for v in stored.approval.votes] == [("approver",)], "the voter's roles are stored"
    status = await service.status_for(opened.approval.approval_id, AGENT)
    assert (status.status, status.message) == ("superseded", "the policy in force now denies it")
    again = await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
    assert again.action == "pending" and again.approval.approval_id != opened.approval.approval_id
    assert "approval.superseded" in audit.kinds()


async def test_a_kept_result_is_released_or_refused_and_never_executed(service: ApprovalService) -> None:
    call = make_call()
    kept = ToolResult.text("reviewed answer")
    approval, created = await service.keep_result(
        call, digest(call), kept, rule="results.csv:3", reason="held for review by results.csv:3", policy_version="v1"
    )
    assert created and approval.rule == "results.csv:3" and approval.approvals_required == 1
    found = await service.held_result(call, digest(call))
    assert found is not None and found.approval_id == approval.approval_id
    # The same call's approval (a call held before it runs) binds apart.
    assert (await service.hold(call, needs_approval(1), digest(call), wait_seconds=0)).approval != approval
    again, created = await service.keep_result(call, digest(call), ToolResult.text("other"), rule="r", reason="r",
                                               policy_version="v1")  # fmt: skip
    assert again.approval_id == approval.approval_id and not created
    waiting = asyncio.create_task(service.await_decision(approval.approval_id, wait_seconds=10))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await service.vote(approval.approval_id, approver("alice"), True, "fine")
    released = await asyncio.wait_for(waiting, 2)
    assert (released.action, released.result) == ("replay", kept), "approved: the kept result, not an execution"
    status = await service.status_for(approval.approval_id, call.principal)
    assert (status.status, status.result) == ("completed", kept)

    other = make_call({"amount": 7})
    refused, _ = await service.keep_result(other, digest(other), kept, rule="r", reason="r", policy_version="v1")
    await service.vote(refused.approval_id, approver("alice"), False, "not this one")
    outcome = await service.await_decision(refused.approval_id, wait_seconds=0)
    assert outcome.action == "denied" and outcome.result is None
