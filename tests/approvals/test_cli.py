"""`gateway approvals ...` against a real server."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from click.testing import CliRunner, Result

from gateway.cli.approvals import approvals
from tests.support.approvals import AGENT, approval_stack, digest, make_call, needs_approval, token


async def cli(url: str, *args: str, subject: str = "alice", roles: tuple[str, ...] = ("approver",)) -> Result:
    # The CLI is synchronous: it runs in a thread so the server keeps serving.
    env = {"GATEWAY_URL": url, "GATEWAY_TOKEN": token(subject, roles)}
    return await asyncio.to_thread(CliRunner().invoke, approvals, list(args), env=env)


async def test_list_show_approve_deny(tmp_path: Path) -> None:
    async with approval_stack(tmp_path) as stack:
        call = make_call({"amount": 50_000, "to": "DE89"})
        waiting = asyncio.create_task(stack.service.hold(call, needs_approval(2), digest(call), wait_seconds=10))
        await asyncio.sleep(0.1)
        listed = await cli(stack.url, "list")
        assert listed.exit_code == 0, listed.output
        header, row = listed.output.splitlines()
        assert header.split() == ["ID", "TOOL", "REQUESTER", "VOTES", "LEFT", "SUMMARY"]
        approval_id = row.split()[0]
        assert approval_id.startswith("apr_")
        assert row.split()[1:5] == ["sap.transfer", AGENT.subject, "0/2", "59s"]
        assert row.endswith("amount=50000 to=DE89")
        assert header.index("SUMMARY") == row.index("amount="), "columns are aligned"

        # The MCP endpoint's URL (what the demo exports) works too.
        shown = await cli(f"{stack.url}/mcp", "show", approval_id)
        assert shown.exit_code == 0, shown.output
        assert "policies/finance.csv:3 (policy v1)" in shown.output
        assert '"to": "DE89"' in shown.output

        approved = await cli(stack.url, "approve", approval_id, "-m", "ok", "--yes")
        assert approved.output.strip() == f"{approval_id}: pending (1 of 2 approvals)"
        twice = await cli(stack.url, "approve", approval_id)
        assert twice.exit_code == 1
        assert f"409 alice already voted on approval {approval_id}; a vote counts once" in twice.output

        denied = await cli(stack.url, "deny", approval_id, "-m", "wrong account", subject="bob")
        assert denied.output.strip() == f"{approval_id}: denied (1 of 2 approvals)"
        assert (await asyncio.wait_for(waiting, 2)).action == "denied"

        history = await cli(stack.url, "list", "--state", "decided", "--json")
        decided = json.loads(history.output)["approvals"]
        assert [(a["approval_id"], a["state"]) for a in decided] == [(approval_id, "denied")]
        assert (await cli(stack.url, "list")).output.strip() == "no pending approvals"


async def test_errors_are_one_line(tmp_path: Path) -> None:
    async with approval_stack(tmp_path) as stack:
        refused = await cli(stack.url, "list", roles=("viewer",))
        assert refused.exit_code == 1
        assert refused.output.strip().startswith("Error: 403 requires one of the approver roles: approver")
        unknown = await cli(stack.url, "show", "apr_nope")
        assert unknown.output.strip() == "Error: 404 no approval with id apr_nope"
        no_comment = await cli(stack.url, "deny", "apr_nope")
        assert no_comment.exit_code == 2 and "Missing option '-m' / '--comment'" in no_comment.output
    gone = await cli(stack.url, "list")
    assert gone.exit_code == 1 and gone.output.startswith(f"Error: cannot reach the gateway at {stack.url}")


async def test_wide_and_json_tables_iso_times_confirmation_and_inert_text(tmp_path: Path) -> None:
    async with approval_stack(tmp_path, high_impact_amount=10_000, default_ttl_seconds=4 * 3600) as stack:
        call = make_call({"amount": 75_000, "memo": "ok\n\x1b[32mapproved-by=cfo"})
        waiting = asyncio.create_task(stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=10))
        await asyncio.sleep(0.1)
        wide = await cli(stack.url, "list", "-o", "wide")
        as_json = json.loads((await cli(stack.url, "list", "-o", "json")).output)
        (approval,) = as_json["approvals"]
        approval_id = approval["approval_id"]
        shown = await cli(stack.url, "show", approval_id)
        own = await cli(stack.url, "show", approval_id, subject=AGENT.subject)
        declined = await asyncio.to_thread(
            CliRunner().invoke,
            approvals,
            ["approve", approval_id],
            input="n\n",
            env={"GATEWAY_URL": stack.url, "GATEWAY_TOKEN": token("alice")},
        )
        still = (await stack.service.get(approval_id)).approval
        confirmed = await asyncio.to_thread(
            CliRunner().invoke,
            approvals,
            ["approve", approval_id],
            input="y\n",
            env={"GATEWAY_URL": stack.url, "GATEWAY_TOKEN": token("alice")},
        )
        await asyncio.wait_for(waiting, 5)
    header = wide.output.splitlines()[0].split()
    assert header == [
        "ID",
        "TOOL",
        "REQUESTER",
        "VOTES",
        "LEFT",
        "ROLES",
        "REQUESTED",
        "OUTCOME",
        "YOUR",
        "VOTE",
        "REASON",
        "SUMMARY",
    ]
    assert "3h 59m left" in wide.output and "\x1b" not in wide.output and "\\x1b[32m" in wide.output
    assert approval["summary"] == "amount=75000 memo=ok\\n\\x1b[32mapproved-by=cfo"
    assert approval["high_impact"] is True and approval["vote"] == {"allowed": True, "reason": None}
    lines = dict(line.strip().split("  ", 1) for line in shown.output.splitlines() if "  " in line.strip())
    assert lines["why held"] == "transfers above 10,000 need two approvers"
    assert lines["roles"] == "agent"
    assert lines["high impact"] == "yes: approving asks to confirm"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d", lines["requested"])
    assert "\n" not in lines["summary"] and "\x1b" not in shown.output.split("arguments")[0]
    assert "not possible: agent-7 requested this call and cannot vote on its own approval" in own.output
    assert declined.exit_code == 1 and "High-impact approval: sap.transfer by agent-7" in declined.output
    assert still.votes == ()
    assert confirmed.exit_code == 0 and confirmed.output.strip().endswith(f"{approval_id}: approved (1 of 1 approvals)")
