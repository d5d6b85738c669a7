"""Reload safety: every malformed edit is refused with a precise error and the old policy keeps running."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from gateway.models import Effect, Principal
from gateway.policy import PolicyError, PolicyHolder, ReloadResult
from tests.support.policy_dirs import SHIPPED, copy_shipped

TESTER = Principal("ci", ("tester",))
TESTER_RULE = "p, tester, *, echo.*, allow, true, -"


@pytest.fixture
def policy_dir(tmp_path: Path) -> Path:
    return copy_shipped(tmp_path / "policies")


def append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def line_count(path: Path) -> int:
    return len(path.read_text().splitlines())


def edits(directory: Path) -> dict[str, tuple[Callable[[], None], str]]:
    """Each malformed edit and the exact error text it must produce."""
    policy = directory / "policy.csv"
    next_line = f"policy.csv:{line_count(policy) + 1}"
    model = directory / "model.conf"
    return {
        "P typo": (
            lambda: append(policy, "P, tester, *, echo.*, deny, true, -\n"),
            f"{next_line}:1: unknown line type 'P'",
        ),
        "unknown ptype": (
            lambda: append(policy, "p2, a, *, t.x, allow, true, -\n"),
            f"{next_line}:1: unknown line type 'p2'",
        ),
        "too few columns": (
            lambda: append(policy, "p, tester, *, echo.*, deny\n"),
            f"{next_line}:1: p row has 4 columns, expected 6",
        ),
        "g row without tenant": (
            lambda: append(directory / "roles.csv", "g, a, b\n"),
            f"roles.csv:{line_count(directory / 'roles.csv') + 1}:1: g row has 2 columns, expected 3",
        ),
        "condition syntax": (
            lambda: append(policy, "p, a, *, t.x, allow, r.args.amount >, -\n"),
            f"{next_line}:22: condition 'r.args.amount >' does not parse",
        ),
        "condition calls a function": (
            lambda: append(policy, "p, a, *, t.x, allow, len(r.args.x) > 1, -\n"),
            f"{next_line}:22: condition 'len(r.args.x) > 1': 'len(r.args.x)' is not allowed",
        ),
        "unknown context key": (
            lambda: append(policy, "p, a, *, t.x, allow, r.ctx.hours < 5, -\n"),
            f"{next_line}:22: condition 'r.ctx.hours < 5': 'r.ctx.hours': unknown context value",
        ),
        "unbalanced bracket": (
            lambda: append(policy, "p, a, *, t.x, allow, r.args.c in ('EUR', -\n"),
            f"{next_line}:1: unbalanced brackets",
        ),
        "bad decision": (
            lambda: append(policy, "p, a, *, t.x, review, true, -\n"),
            f"{next_line}:15: decision 'review' must be allow, deny or approve",
        ),
        "approve without approvers": (
            lambda: append(policy, "p, a, *, t.x, approve, true, -\n"),
            f"{next_line}:30: approval column '-' must read 'COUNT ROLE [TTL]'",
        ),
        "duplicate row": (lambda: append(policy, TESTER_RULE + "\n"), f"{next_line}: repeats the row at policy.csv:45"),
        "role cycle": (
            lambda: append(directory / "roles.csv", "g, agent-readonly, finance-agent, *\n"),
            "role cycle",
        ),
        "empty file": (lambda: policy.write_text(""), "policy.csv: file is empty"),
        "bad UTF-8": (
            lambda: policy.write_bytes(policy.read_bytes() + b"p, caf\xe9, *, t.x, allow, true, -\n"),
            f"{next_line}: not valid UTF-8",
        ),
        "model deleted": (lambda: model.unlink(), "model.conf: missing from"),
        "policy file deleted": (lambda: policy.unlink(), "roles.csv: no p rows: every call would be denied"),
        "every csv deleted": (
            lambda: [policy.unlink(), (directory / "roles.csv").unlink()],
            "no *.csv policy file",
        ),
        "model does not parse": (
            lambda: model.write_text("[request_definition]\nr = sub\n[policy_definition\np = sub\n"),
            "model.conf: Casbin cannot load the model: parse the content error : line 3",
        ),
        "model of another shape": (
            lambda: model.write_text(
                model.read_text().replace("e = some(where (p.eft == allow))", "e = priority(p.eft) || deny")
            ),
            "model.conf: `e = priority(p_eft) || deny` is not supported",
        ),
        "failing test case": (
            lambda: policy.write_text(
                policy.read_text().replace(TESTER_RULE, "p, tester, *, echo.echo, allow, true, -")
            ),
            "policy test case failed: cases.yaml:140 'testers may use the echo upstream': expected allow",
        ),
        "bad test case": (
            lambda: append(
                directory / "cases.yaml", "  - name: typo\n    sub: a\n    tool: echo.echo\n    expct: allow\n"
            ),
            "unknown key 'expct'",
        ),
    }


@pytest.mark.parametrize("edit", list(edits(SHIPPED)))
def test_malformed_edit_is_refused_and_the_old_policy_keeps_running(policy_dir: Path, edit: str) -> None:
    holder = PolicyHolder.load(policy_dir)
    before = holder.current
    apply, message = edits(policy_dir)[edit]
    apply()
    result = holder.reload()
    assert not result.ok
    assert message in (result.error or ""), result.error
    assert holder.current is before
    assert result.active_version == before.version
    assert holder.current.decide(TESTER, "echo", "echo", {"text": "hi"}).effect is Effect.ALLOW
    with pytest.raises(PolicyError, match=re.escape(message)):
        PolicyHolder.load(policy_dir)


def test_refused_reload_names_the_candidate_files(policy_dir: Path) -> None:
    holder = PolicyHolder.load(policy_dir)
    append(policy_dir / "policy.csv", "P, x, *, t.x, allow, true, -\n")
    result = holder.reload()
    assert set(result.file_hashes) == {"cases.yaml", "model.conf", "policy.csv", "roles.csv"}
    assert result.version not in (None, holder.current.version)
    assert result.file_hashes["policy.csv"] != holder.current.file_hashes["policy.csv"]


def test_good_edit_is_swapped_in_while_calls_in_flight_keep_their_engine(policy_dir: Path) -> None:
    holder = PolicyHolder.load(policy_dir)
    in_flight = holder.current
    shout_line = line_count(policy_dir / "policy.csv") + 2
    append(policy_dir / "policy.csv", "# Testers may not shout.\np, tester, *, echo.shout, deny, true, -\n")
    result = holder.reload()
    assert (result.ok, result.changed, result.error) == (True, True, None)
    assert result.version == holder.current.version == result.active_version != in_flight.version
    shout = holder.current.decide(TESTER, "echo", "shout", {})
    assert shout.reason == f"denied by policy.csv:{shout_line}: Testers may not shout."
    assert in_flight.decide(TESTER, "echo", "shout", {}).effect is Effect.ALLOW
    again = holder.reload()
    assert (again.ok, again.changed) == (True, False)


async def test_watch_applies_good_edits_and_reports_bad_ones(policy_dir: Path) -> None:
    holder = PolicyHolder.load(policy_dir)
    results: asyncio.Queue[ReloadResult] = asyncio.Queue()
    stop = asyncio.Event()
    watcher = asyncio.create_task(holder.watch(results.put, debounce_ms=50, stop_event=stop))
    try:
        await asyncio.sleep(0.3)  # let the watcher register before editing
        append(policy_dir / "policy.csv", "p, tester, *, echo.shout, deny, true, -\n")
        good = await asyncio.wait_for(results.get(), 10)
        assert good.ok and good.changed
        assert holder.current.decide(TESTER, "echo", "shout", {}).effect is Effect.DENY
        bad_line = line_count(policy_dir / "policy.csv") + 1
        append(policy_dir / "policy.csv", "p, tester, *, echo.shout, deny\n")
        bad = await asyncio.wait_for(results.get(), 10)
        assert not bad.ok and f"policy.csv:{bad_line}:1: p row has 4 columns" in (bad.error or "")
        assert holder.current.version == good.version
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 10)


def test_an_approver_role_nobody_holds_is_refused_at_load(policy_dir: Path) -> None:
    # #18: a typo in a rule's approver role used to load silently; its calls then waited to expire.
    roles = ("approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor")
    PolicyHolder.load(policy_dir, roles)
    policy = policy_dir / "policy.csv"
    policy.write_text(policy.read_text().replace("1 support-supervisor 2h", "1 support-supervisr 2h"))
    with pytest.raises(PolicyError) as caught:
        PolicyHolder.load(policy_dir, roles)
    assert "approver role 'support-supervisr' is neither in approvals.approver_roles nor granted by any g row" in str(
        caught.value
    )
    assert "(did you mean 'support-supervisor'?)" in str(caught.value)
    # A role that a g row grants is one an approver can hold.
    policy.write_text(policy.read_text().replace("1 support-supervisr 2h", "1 support-supervisor 2h"))
    append(policy, "p, support-agent, *, helpdesk.deleteTicket, approve, true, 1 helpdesk-lead\n")
    with pytest.raises(PolicyError, match="approver role 'helpdesk-lead'"):
        PolicyHolder.load(policy_dir, roles)
    append(policy_dir / "roles.csv", "g, alice, helpdesk-lead, *\n")
    PolicyHolder.load(policy_dir, roles)


ROLES = ("approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor")
#: Two files that only make sense together: the rule's approver role exists once roles.csv grants it.
NEW_RULE = "p, support-agent, *, helpdesk.deleteTicket, approve, true, 1 helpdesk-lead\n"
NEW_LINK = "g, alice, helpdesk-lead, *\n"


async def _reloads_after(holder: PolicyHolder, change: Callable[[], None]) -> list[ReloadResult]:
    """Every reload the watcher makes for `change`, collected until it has been quiet a while."""
    results: asyncio.Queue[ReloadResult] = asyncio.Queue()
    stop = asyncio.Event()
    watcher = asyncio.create_task(holder.watch(results.put, debounce_ms=200, stop_event=stop))
    try:
        await asyncio.sleep(0.3)  # let the watcher register before editing
        change()
        seen = [await asyncio.wait_for(results.get(), 10)]
        with contextlib.suppress(TimeoutError):
            while True:
                seen.append(await asyncio.wait_for(results.get(), 1.5))
        return seen
    finally:
        stop.set()
        await asyncio.wait_for(watcher, 10)


async def test_staged_files_renamed_together_make_one_reload(policy_dir: Path) -> None:
    # #18: copying two dependent files in turn used to trigger a refused reload in between.
    holder = PolicyHolder.load(policy_dir, ROLES)
    staging = policy_dir / ".staging"  # a folder inside: the watcher ignores it, the loader never reads it
    staging.mkdir()
    (staging / "policy.csv").write_text((policy_dir / "policy.csv").read_text() + NEW_RULE)
    (staging / "roles.csv").write_text((policy_dir / "roles.csv").read_text() + NEW_LINK)

    def promote() -> None:
        for name in ("policy.csv", "roles.csv"):
            os.replace(staging / name, policy_dir / name)

    reloads = await _reloads_after(holder, promote)
    assert [(r.ok, r.changed) for r in reloads] == [(True, True)], reloads
    assert holder.current.decide(TESTER, "helpdesk", "deleteTicket", {}).effect is Effect.DENY
    who = Principal("s", ("support-agent",))
    assert holder.current.decide(who, "helpdesk", "deleteTicket", {}).approver_role == "helpdesk-lead"


async def test_kubernetes_configmap_swap_is_one_atomic_reload(tmp_path: Path) -> None:
    # A mounted ConfigMap: files are links through `..data`, which one rename points at new content.
    mount = tmp_path / "policies"
    mount.mkdir()
    first = mount / "..2026_11_30_09_00_00.1"
    shutil.copytree(SHIPPED, first)
    (mount / "..data").symlink_to(first.name)
    for name in os.listdir(first):
        (mount / name).symlink_to(f"..data/{name}")
    holder = PolicyHolder.load(mount, ROLES)
    before = holder.current.version
    second = mount / "..2026_11_30_09_05_00.2"
    shutil.copytree(first, second)
    append(second / "policy.csv", NEW_RULE)
    append(second / "roles.csv", NEW_LINK)

    def swap() -> None:
        (mount / "..data_tmp").symlink_to(second.name)
        os.replace(mount / "..data_tmp", mount / "..data")
        shutil.rmtree(first)

    reloads = await _reloads_after(holder, swap)
    assert [(r.ok, r.changed) for r in reloads] == [(True, True)], reloads
    assert holder.current.version != before
    who = Principal("s", ("support-agent",))
    assert holder.current.decide(who, "helpdesk", "deleteTicket", {}).approver_role == "helpdesk-lead"


def test_status_names_the_policy_in_force_and_the_last_reload(policy_dir: Path) -> None:
    holder = PolicyHolder.load(policy_dir)
    assert holder.status()["last_reload"] is None
    append(policy_dir / "policy.csv", "p, tester, *, echo.shout, deny\n")
    holder.reload()
    status = holder.status()
    assert status["version"] == holder.current.version
    assert set(status["files"]) == {"cases.yaml", "model.conf", "policy.csv", "roles.csv"}
    last = status["last_reload"]
    assert last["ok"] is False and "p row has 4 columns" in last["error"]
    assert last["candidate_version"] != status["version"]
