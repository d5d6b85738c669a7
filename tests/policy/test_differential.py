"""The fast evaluator against pycasbin: 100,000 generated requests over 250 generated policies
must give identical outcomes and deciding rules (and read the same failing conditions the
stricter way)."""

from __future__ import annotations

from pathlib import Path

from gateway.models import Decision
from gateway.policy.engine import PolicyEngine
from gateway.policy.reference import ReferenceEvaluator
from tests.support.synthetic_policy import Synthetic

POLICIES = 250
REQUESTS_PER_POLICY = 400


def outcome(decision: Decision) -> tuple[str, str | None, int, str | None, float | None, int]:
    return (
        decision.effect.value,
        decision.rule,
        decision.approvals_required,
        decision.approver_role,
        decision.approval_ttl,
        len(decision.unevaluable),
    )


def test_fast_path_agrees_with_pycasbin_on_100k_requests(tmp_path: Path) -> None:
    compared = 0
    seen: set[str] = set()
    for seed in range(POLICIES):
        synthetic = Synthetic(seed, rules=12, roles=6, links=8, subjects=5, tools=8)
        engine = PolicyEngine.load(synthetic.write(tmp_path / str(seed)))
        reference = ReferenceEvaluator(engine.policy)
        for request in synthetic.requests(REQUESTS_PER_POLICY):
            args = (request.principal, request.connector, request.tool, request.arguments, request.context)
            fast, slow = engine.decide(*args), reference.decide(*args)
            assert outcome(fast) == outcome(slow), (seed, request, fast, slow)
            seen.add(f"{fast.effect.value}:{'rule' if fast.rule else 'default'}")
            if fast.unevaluable:
                seen.add(f"{fast.effect.value}:unevaluable")
            compared += 1
    assert compared >= 100_000
    # The generated traffic must exercise every kind of outcome, or the comparison proves little.
    assert seen >= {
        "allow:rule",
        "approve:rule",
        "deny:rule",
        "deny:default",
        "deny:unevaluable",
        "approve:unevaluable",
        "allow:unevaluable",
    }
