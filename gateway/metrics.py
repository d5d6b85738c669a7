"""Prometheus metrics: one registry per gateway instance, so several gateways (tests,
replicas in one process) never share counters. Names follow Prometheus conventions and
are documented in docs/metrics.md.

Every label takes values from a fixed set (stage names, outcomes, connector names from
the config, tool names from the catalog): nothing an agent sends can grow the series.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, Info
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

from connectors.base import Connector
from gateway import __version__
from gateway.audit.streaming.metrics import SinkMetrics
from gateway.incident_metrics import IncidentMetrics
from gateway.inspect.metrics import InspectMetrics
from gateway.metric_declarer import MetricDeclarer
from gateway.pins.gate import PinMetrics

#: Latency buckets from 250 µs (policy, audit) to 60 s (slow backends).
_BUCKETS = (0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
#: Approvals are decided by people: from seconds to a day.
_DECISION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600)

#: The stages of the call path that `gateway_stage_duration_seconds` times.
STAGES = ("identity", "validate", "rate_limit", "policy", "approval_wait", "backend", "inspect", "audit")
#: Why a request was refused before reaching a backend (the refusals' `outcome`).
REJECTION_REASONS = (
    "unauthenticated",
    "unknown_tool",
    "quarantined",
    "invalid_arguments",
    "denied",
    "approval_required",
    "approval_pending",
    "approval_denied",
    "approval_expired",
    "approval_superseded",
    "approvals_capped",
    "audit_unavailable",
    "rate_limited",
    "rate_limit_unavailable",
)
RELOAD_RESULTS = ("success", "unchanged", "failure")
#: How an approval ends (ApprovalState values other than pending).
APPROVAL_OUTCOMES = ("approved", "denied", "expired", "superseded")
CIRCUIT_STATES = ("closed", "open", "half_open")


class _CircuitCollector:
    """Reads each connector's circuit breaker at scrape time, so the state is never stale."""

    def __init__(self) -> None:
        self._connectors: list[Connector] = []

    def watch(self, connectors: Iterable[Connector]) -> None:
        self._connectors = list(connectors)

    def describe(self) -> list[Metric]:
        return [self._family()]

    def collect(self) -> Iterator[Metric]:
        family = self._family()
        for connector in self._connectors:
            # Only connectors wrapped in connectors.resilience have a circuit breaker.
            circuit = getattr(connector, "circuit_state", None)
            if circuit is None:
                continue
            current = str(circuit)
            for state in CIRCUIT_STATES:
                family.add_metric([connector.name, state], 1.0 if state == current else 0.0)
        yield family

    @staticmethod
    def _family() -> GaugeMetricFamily:
        return GaugeMetricFamily(
            "gateway_backend_circuit_state",
            "Circuit breaker state of each connector's backend: 1 for the current state, 0 for the others.",
            labels=["connector", "state"],
        )


class AuditMetrics:
    """What the audit log reports about its commits (see `gateway.audit.log.AuditObserver`)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        metric = MetricDeclarer(registry)
        self.appends = metric.counter(
            "gateway_audit_appends",
            "Audit records the writer tried to make durable, by result (ok, error).",
            ["result"],
            known=("ok", "error"),
        )
        self.commit_duration = metric.histogram(
            "gateway_audit_commit_duration_seconds",
            "Time of one audit group commit (one transaction holding one or more records).",
            buckets=_BUCKETS,
        )
        self.chain_size = metric.gauge(
            "gateway_audit_chain_size_records", "Number of records in the audit chain (sequence number of its head)."
        )
        self.last_checkpoint_size = metric.gauge(
            "gateway_audit_last_checkpoint_size_records",
            "Number of records covered by the last signed checkpoint (0: none yet).",
        )
        self.last_checkpoint_time = metric.gauge(
            "gateway_audit_last_checkpoint_timestamp_seconds",
            "Unix time this process last wrote a signed checkpoint (0: none since it started).",
        )

    def opened(self, chain_size: int, checkpoint_size: int) -> None:
        self.chain_size.set(chain_size)
        self.last_checkpoint_size.set(checkpoint_size)

    def committed(self, records: int, seconds: float, chain_size: int) -> None:
        self.appends.labels("ok").inc(records)
        self.commit_duration.observe(seconds)
        self.chain_size.set(chain_size)

    def failed(self, records: int, seconds: float) -> None:
        self.appends.labels("error").inc(records)
        self.commit_duration.observe(seconds)

    def checkpointed(self, size: int) -> None:
        self.last_checkpoint_size.set(size)
        self.last_checkpoint_time.set(time.time())


class ApprovalMetrics:
    """What the approvals service reports: `pending` (inc on request, dec on decision or
    expiry, set from the store at start), `time_to_decision`, `outcomes`."""

    def __init__(self, registry: CollectorRegistry) -> None:
        metric = MetricDeclarer(registry)
        self.pending = metric.gauge("gateway_approvals_pending", "Approvals waiting for a decision.")
        self.time_to_decision = metric.histogram(
            "gateway_approval_decision_seconds",
            "Seconds from an approval request to its decision or expiry.",
            buckets=_DECISION_BUCKETS,
        )
        self.outcomes = metric.counter(
            "gateway_approval_outcomes", "Decided approvals by outcome.", ["outcome"], known=APPROVAL_OUTCOMES
        )


class PolicyMetrics:
    """What the policy holder and the decide stage report: the version in force, reloads,
    conditions that could not be evaluated."""

    def __init__(self, registry: CollectorRegistry) -> None:
        metric = MetricDeclarer(registry)
        self.reloads = metric.counter(
            "gateway_policy_reloads",
            "Policy reload attempts by result (success, unchanged, failure).",
            ["result"],
            known=RELOAD_RESULTS,
        )
        self.unevaluable_conditions = metric.counter(
            "gateway_policy_unevaluable_conditions",
            "Rule conditions that could not be evaluated for a call (read the stricter way), by rule.",
            ["rule"],
        )
        self.last_reload_success = metric.gauge(
            "gateway_policy_last_reload_successful",
            "1 when the last policy reload succeeded (or none was tried yet), 0 when it was refused.",
        )
        self.info = Info("gateway_policy", "The policy in force: its version (hash of its files).", registry=registry)
        self.last_reload_success.set(1)

    def loaded(self, version: str) -> None:
        self.info.info({"version": version})

    def reloaded(self, result: str, active_version: str) -> None:
        """Record one reload attempt: success, unchanged (same files) or failure (the
        version in force stays)."""
        self.reloads.labels(result).inc()
        self.last_reload_success.set(0 if result == "failure" else 1)
        self.loaded(active_version)


class GuardMetrics:
    """What the guards in front of the call path report (gateway/guards): refused tokens and
    requests shed instead of queued."""

    def __init__(self, registry: CollectorRegistry) -> None:
        metric = MetricDeclarer(registry)
        self.auth_failures = metric.counter(
            "gateway_auth_failures",
            "Refused tokens: aggregated into the audit log, or throttled (429, not audited) per source.",
            ["outcome"],
        )
        self.load_shed = metric.counter(
            "gateway_load_shed",
            "Requests answered 503 (Retry-After) instead of queueing, by what was saturated.",
            ["resource"],
        )


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        metric = MetricDeclarer(registry)
        Info("gateway_build", "The gateway's version.", registry=registry).info({"version": __version__})
        self.tool_calls = metric.counter(
            "gateway_tool_calls",
            "Tool calls by connector, tool, policy decision and outcome.",
            ["connector", "tool", "decision", "outcome"],
        )
        self.call_duration = metric.histogram(
            "gateway_tool_call_duration_seconds",
            "End-to-end time of a tool call inside the gateway, by connector.",
            ["connector"],
            buckets=_BUCKETS,
        )
        self.stage_duration = metric.histogram(
            "gateway_stage_duration_seconds",
            "Time spent in each stage of the call path (identity, validate, rate_limit, policy, approval_wait, "
            "backend, audit).",
            ["stage"],
            buckets=_BUCKETS,
            known=STAGES,
        )
        self.guards = GuardMetrics(registry)
        self.rejected_requests = metric.counter(
            "gateway_rejected_requests",
            "Requests refused before reaching a backend, by reason.",
            ["reason"],
            known=REJECTION_REASONS,
        )
        self.policy = PolicyMetrics(registry)
        self.approvals = ApprovalMetrics(registry)
        self.audit_records_lost = metric.counter(
            "gateway_audit_records_lost",
            "Records that could not wait for the audit store (a refused token is answered first), by kind.",
            ["kind"],
        )
        self.backend_up = metric.gauge(
            "gateway_backend_up",
            "1 when the connector's backend answered its last health check, else 0.",
            ["connector"],
        )
        self.audit = AuditMetrics(registry)
        self.audit_sinks = SinkMetrics()
        registry.register(self.audit_sinks)
        self.inspect = InspectMetrics(registry)
        self.pins = PinMetrics(registry)
        self.incident = IncidentMetrics(registry)
        self._circuits = _CircuitCollector()
        registry.register(self._circuits)

    def watch_connectors(self, connectors: Iterable[Connector]) -> None:
        """Expose these connectors' circuit breaker state (those that have one)."""
        connectors = list(connectors)
        self._circuits.watch(connectors)
        for connector in connectors:
            self.call_duration.labels(connector.name)

    def render(self) -> bytes:
        return generate_latest(self.registry)
