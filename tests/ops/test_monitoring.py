"""deploy/prometheus and deploy/grafana: the config and rules pass promtool, every alert
has a rule test that fires it, and every query names a metric the gateway exposes."""

from __future__ import annotations

import json

import yaml

from tests.support.ops import REPO, exposed_names, metric_names, require_binary, run_tool

PROMETHEUS = REPO / "deploy" / "prometheus"
DASHBOARD = REPO / "deploy" / "grafana" / "gateway-dashboard.json"


async def test_scrape_config_and_rules_pass_promtool() -> None:
    promtool = require_binary("promtool")
    code, out = await run_tool(promtool, "check", "config", "prometheus.yml", cwd=PROMETHEUS)
    assert code == 0, out
    code, out = await run_tool(promtool, "test", "rules", "alerts.test.yml", cwd=PROMETHEUS)
    assert code == 0, out
    assert "SUCCESS" in out


def _alerts() -> list[dict]:
    groups = yaml.safe_load((PROMETHEUS / "alerts.yml").read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def test_every_alert_is_tested_firing_and_quiet() -> None:
    tests = yaml.safe_load((PROMETHEUS / "alerts.test.yml").read_text())["tests"]
    cases = [case for test in tests for case in test.get("alert_rule_test", [])]
    names = {rule["alert"] for rule in _alerts()}
    assert names == {
        "GatewayDown",
        "GatewayHighErrorRatio",
        "GatewayPolicyReloadFailing",
        "GatewayApprovalsPilingUp",
        "GatewayAuditAppendFailing",
        "GatewayBackendCircuitOpen",
        "GatewayAuditSinkLagging",
        "GatewayToolDefinitionChanged",
        "GatewayInjectionInResults",
        "GatewayIdentityProviderKeysUnavailable",
        "GatewayShedding",
        "GatewayAuthFailureFlood",
        "GatewayAgentBraked",
        "GatewaySuspensionUnreviewed",
    }
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    assert fired == names
    assert quiet == names


def test_metric_names_are_read_from_promql() -> None:
    # The check below is only as good as this parser: labels, strings and ranges are not names.
    expr = 'sum by (outcome, le) (rate(gateway_x_total{outcome=~"a|b", x="y"}[$__rate_interval])) / sum(up)'
    assert metric_names(expr) == {"gateway_x_total", "up"}
    assert metric_names("histogram_quantile(0.95, rate(a_bucket[5m])) or absent(b)") == {"a_bucket", "b"}


def test_alerts_read_only_metrics_the_gateway_exposes() -> None:
    known = exposed_names()
    for rule in _alerts():
        names = metric_names(rule["expr"])
        assert names, rule["alert"]
        assert names <= known, f"{rule['alert']} reads unknown metrics {names - known}"


def test_dashboard_queries_read_only_metrics_the_gateway_exposes() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    known = exposed_names()
    panels = dashboard["panels"]
    assert len(panels) >= 10
    assert len({p["id"] for p in panels}) == len(panels)
    covered: set[str] = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = metric_names(target["expr"])
            assert names, f"{panel['title']}: {target['expr']}"
            assert names <= known, f"{panel['title']} reads unknown metrics {names - known}"
            covered |= names
    # The dashboard shows every family the issue names, not a convenient subset.
    families = {n.removesuffix(s) for n in covered for s in ("_total", "_bucket", "_count") if n.endswith(s)} | covered
    for family in (
        "gateway_tool_calls",
        "gateway_stage_duration_seconds",
        "gateway_rejected_requests",
        "gateway_policy_reloads",
        "gateway_policy_info",
        "gateway_approvals_pending",
        "gateway_approval_decision_seconds",
        "gateway_approval_outcomes",
        "gateway_audit_appends",
        "gateway_audit_last_checkpoint_size_records",
        "gateway_backend_circuit_state",
    ):
        assert family in families, family
