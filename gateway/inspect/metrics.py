"""Counters for what result rules did: results touched, by connector and effect."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from gateway.inspect.apply import Outcome
from gateway.metric_declarer import MetricDeclarer

#: What a rule can do to a result (the `effect` label).
EFFECTS = ("redacted", "masked", "screened", "truncated", "withheld", "held")


class InspectMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        metric = MetricDeclarer(registry)
        self.results = metric.counter(
            "gateway_result_rules",
            "Answers (tool results, prompts, resources, completions) changed, flagged, withheld or held for "
            "review by result rules, by connector (prompts/NAME, resources/NAME for those kinds) and effect.",
            ["connector", "effect"],
        )
        self.findings = metric.counter(
            "gateway_screening_findings",
            "Screening findings in results (unicode, markers, links, instructions), by connector and check.",
            ["connector", "check"],
        )

    def observe(self, connector: str, outcome: Outcome) -> None:
        if not outcome.rules:
            return
        for effect in EFFECTS:
            if getattr(outcome, effect):
                self.results.labels(connector, effect).inc()
        for check, count in outcome.screened.items():
            self.findings.labels(connector, check).inc(count)
