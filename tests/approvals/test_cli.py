"""`gateway approvals ...` against a real server."""

from __future__ import annotations

import asyncio
import json
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
        approval_id = listed.output.split()[0]
        assert approval_id.startswith("apr_")
        assert "sap.transfer" in listed.output and AGENT.subject in listed.output and "0/2" in listed.output

        # The MCP endpoint's URL (what the demo exports) works too.
        shown = await cli(f"{stack.url}/mcp", "show", approval_id)
        assert shown.exit_code == 0, shown.output
        assert "policies/finance.csv:3 (policy v1)" in shown.output
        assert '"to": "DE89"' in shown.output

        approved = await cli(stack.url, "approve", approval_id, "-m", "ok")
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
        assert refused.output.strip() == "Error: 403 requires the 'approver' role"
        unknown = await cli(stack.url, "show", "apr_nope")
        assert unknown.output.strip() == "Error: 404 no approval with id apr_nope"
        no_comment = await cli(stack.url, "deny", "apr_nope")
        assert no_comment.exit_code == 2 and "Missing option '-m' / '--comment'" in no_comment.output
    gone = await cli(stack.url, "list")
    assert gone.exit_code == 1 and gone.output.startswith(f"Error: cannot reach the gateway at {stack.url}")
