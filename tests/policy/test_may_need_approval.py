"""Which tools the policy may hold for a caller: the mark `tools/list` carries (#18)."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.models import Principal
from gateway.policy import PolicyEngine
from tests.support.policy_dirs import write_policy

POLICY = """\
p, buyer, *, erp.order, allow, r.args.amount < 100, -
p, buyer, *, erp.order, approve, true, 1 approver 1h
p, buyer, *, erp.search, allow, true, -
p, buyer, *, erp.delete, deny, true, -
p, buyer, *, erp.delete, approve, true, 1 approver 1h
p, buyer, globex, erp.refund, approve, true, 1 approver 1h
p, buyer, *, erp.refund, allow, true, -
"""


@pytest.mark.parametrize(
    ("tool", "tenant", "held"),
    [
        ("order", None, True),  # small orders are allowed, the rest waits for people
        ("search", None, False),
        ("delete", None, False),  # deny rules decide first: the approve rule never applies
        ("refund", "acme", False),
        ("refund", "globex", True),  # the tenant's own rule
        ("unknown", None, False),
    ],
)
def test_may_need_approval(tmp_path: Path, tool: str, tenant: str | None, held: bool) -> None:
    engine = PolicyEngine.load(write_policy(tmp_path / "p", POLICY))
    assert engine.may_need_approval(Principal("bot", ("buyer",), tenant), "erp", tool) is held
