"""docs/metrics.md names every label value /metrics can emit (#18): each value the code can
produce is listed in its metric's row, and so is each value a live gateway exposes."""

from __future__ import annotations

import re

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from gateway import errors
from gateway.metrics import APPROVAL_OUTCOMES, CIRCUIT_STATES, RELOAD_RESULTS, STAGES
from gateway.models import Effect
from tests.support.gateway import REPO, RunningGateway

#: Labels whose values come from a fixed set (connector, tool and version come from config and code).
FIXED_LABELS = ("decision", "outcome", "reason", "stage", "result", "state")


def _documented() -> dict[str, set[str]]:
    """metric name -> every `backticked` word in its row of the table."""
    rows: dict[str, set[str]] = {}
    for line in (REPO / "docs" / "metrics.md").read_text(encoding="utf-8").splitlines():
        if line.startswith("| `gateway_"):
            name = re.match(r"\| `(\w+)`", line)
            assert name is not None
            rows[name.group(1)] = set(re.findall(r"`([^`]+)`", line))
    return rows


def _refusal_outcomes() -> set[str]:
    found: set[str] = set()
    pending: list[type[errors.CallRefused]] = [errors.CallRefused]
    while pending:
        cls = pending.pop()
        found.add(cls.outcome)
        pending.extend(cls.__subclasses__())
    return found - {errors.CallRefused.outcome}  # the base class is never raised


CODE_VALUES = {
    "gateway_tool_calls_total": {"ok", "tool_error", "none", *(e.value for e in Effect), *_refusal_outcomes()},
    # A backend timeout happens only once forwarded, which is not a rejection.
    "gateway_rejected_requests_total": {"unauthenticated", *_refusal_outcomes()} - {"backend_timeout"},
    "gateway_stage_duration_seconds": set(STAGES),
    "gateway_policy_reloads_total": set(RELOAD_RESULTS),
    "gateway_approval_outcomes_total": set(APPROVAL_OUTCOMES),
    "gateway_audit_appends_total": {"ok", "error"},
    "gateway_backend_circuit_state": set(CIRCUIT_STATES),
}


@pytest.mark.parametrize("metric", sorted(CODE_VALUES))
def test_every_value_the_code_can_emit_is_documented(metric: str) -> None:
    missing = CODE_VALUES[metric] - _documented()[metric]
    assert not missing, f"docs/metrics.md, row {metric}, does not list {sorted(missing)}"


async def test_every_value_a_live_gateway_exposes_is_documented(echo_gateway: RunningGateway) -> None:
    async with httpx.AsyncClient(base_url=echo_gateway.url) as http:
        headers = {"Authorization": f"Bearer {echo_gateway.token()}"}
        await http.post("/v1/tools/echo.echo:call", json={"text": "hi"}, headers=headers)
        await http.post("/v1/tools/echo.nope:call", json={}, headers=headers)
        await http.post("/v1/tools/echo.echo:call", json={"text": 1}, headers=headers)
        await http.get("/v1/tools")  # no token
        exposed = (await http.get("/metrics")).text
    documented = _documented()
    missing = []
    for family in text_string_to_metric_families(exposed):
        for sample in family.samples:
            name = next((n for n in (sample.name, family.name, f"{family.name}_total") if n in documented), None)
            if name is None:
                continue
            for label in FIXED_LABELS:
                value = sample.labels.get(label)
                if value is not None and value not in documented[name]:
                    missing.append(f"{name}{{{label}={value!r}}}")
    assert not missing, f"docs/metrics.md does not list {sorted(set(missing))}"
