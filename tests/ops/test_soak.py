"""The soak bench for 60 s in the suite: mixed traffic (allowed, denied, held then
approved, backend errors, bad tokens) leaves no growth of memory or file descriptors after
warm-up beyond the tolerances documented in bench/soak.py. Timing is not judged here."""

from __future__ import annotations

from bench.soak import FD_TOLERANCE, RSS_TOLERANCE_MIB, run_soak


async def test_a_minute_of_mixed_traffic_leaves_no_growth() -> None:
    lines: list[str] = []
    soak = await run_soak(60, every=10, agents=2, out=lines.append)
    ok, why = soak.verdict()
    assert ok, why + "\n" + "\n".join(lines)
    assert RSS_TOLERANCE_MIB <= 25 and FD_TOLERANCE <= 16
    outcomes = soak.outcomes
    # Every kind of traffic ran, and each was answered as it should be.
    assert outcomes.get("allowed", 0) > 10 and "allowed-failed" not in outcomes
    assert outcomes.get("denied", 0) > 10 and "denied-LEAKED" not in outcomes
    assert outcomes.get("held-then-approved-200", 0) > 10 and not any(
        k.startswith("held-") and k != "held-then-approved-200" for k in outcomes
    )
    assert set(k for k in outcomes if k.startswith("backend-error")) == {"backend-error-502"}
    assert set(k for k in outcomes if k.startswith("bad-token")) <= {"bad-token-401", "bad-token-429"}
