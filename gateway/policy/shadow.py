"""Shadow policy: a candidate policy decides every live call beside the active one,
without affecting any call; where the two disagree, the difference is counted (metric
by candidate rule and kind of change) and kept for review. `promote` writes the
candidate's files into the active policy directory and reloads it through the normal,
validated reload.

The shadow lives in the memory of the replica it was loaded on (each replica of a
shared deployment is given it by the same command, through its own admin endpoint).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter as Tally
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gateway.incident_metrics import IncidentMetrics
from gateway.models import Decision, ToolCall
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.files import read_policy_files
from gateway.policy.holder import load_checked

log = logging.getLogger(__name__)

#: Differences kept for the report (oldest dropped first).
KEEP = 1000


@dataclass(frozen=True, slots=True)
class Difference:
    call_id: str
    ts: float
    agent: str
    tenant: str | None
    tool: str
    #: e.g. "allow->deny", "approve->approve" (same effect, other approvals).
    change: str
    active: Mapping[str, Any]
    candidate: Mapping[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "call_id": self.call_id,
            "ts": self.ts,
            "agent": self.agent,
            "tenant": self.tenant,
            "tool": self.tool,
            "change": self.change,
            "active": dict(self.active),
            "candidate": dict(self.candidate),
        }


@dataclass
class Shadow:
    """One loaded candidate and what it has seen."""

    directory: Path
    engine: PolicyEngine
    loaded_by: str
    loaded_at: float = field(default_factory=time.time)
    evaluated: int = 0
    changes: Tally[str] = field(default_factory=Tally)
    differences: deque[Difference] = field(default_factory=lambda: deque(maxlen=KEEP))

    def report(self, limit: int) -> dict[str, Any]:
        return {
            "directory": str(self.directory),
            "version": self.engine.version,
            "loaded_by": self.loaded_by,
            "loaded_at": self.loaded_at,
            "evaluated": self.evaluated,
            "changed": sum(self.changes.values()),
            "by_change": dict(self.changes),
            "differences": [d.to_json() for d in list(self.differences)[-limit:][::-1]],
        }


class ShadowPolicy:
    def __init__(self, metrics: IncidentMetrics) -> None:
        self._shadow: Shadow | None = None
        self._lock = threading.Lock()
        self.decisions_changed = metrics.shadow_changed
        self.evaluated = metrics.shadow_decisions

    @property
    def current(self) -> Shadow | None:
        return self._shadow

    def load(self, directory: Path, by: str) -> Shadow:
        """Load and check (its own test cases too) a candidate; PolicyError if it fails."""
        engine = load_checked(directory)
        shadow = Shadow(Path(directory), engine, by)
        with self._lock:
            self._shadow = shadow
        return shadow

    def stop(self) -> Shadow | None:
        with self._lock:
            shadow, self._shadow = self._shadow, None
        return shadow

    def files_to_promote(self) -> Mapping[str, str]:
        """The candidate's file texts, provided they are still what was shadowed."""
        shadow = self._shadow
        if shadow is None:
            raise PolicyError("no shadow policy is loaded: load one with 'gateway policy shadow DIR'")
        files = read_policy_files(shadow.directory)
        if files.version != shadow.engine.version:
            raise PolicyError(
                f"the files in {shadow.directory} changed since they were loaded as the shadow: load them again"
            )
        return files.texts

    def observe(self, call: ToolCall, active: Decision, context: Mapping[str, Any]) -> None:
        """Decide `call` under the candidate too and record a difference; never raises."""
        shadow = self._shadow
        if shadow is None:
            return
        try:
            candidate = shadow.engine.decide(call.principal, call.policy_connector, call.tool, call.arguments, context)
        except Exception:  # the shadow must never affect a call
            log.exception("shadow policy failed on call %s", call.call_id)
            return
        shadow.evaluated += 1
        self.evaluated.inc()
        if _outcome(active) == _outcome(candidate):
            return
        change = f"{active.effect.value}->{candidate.effect.value}"
        shadow.changes[change] += 1
        self.decisions_changed.labels(candidate.rule or "default", change).inc()
        shadow.differences.append(
            Difference(
                call.call_id,
                time.time(),
                call.principal.subject,
                call.principal.tenant,
                call.policy_object,
                change,
                _describe(active),
                _describe(candidate),
            )
        )


def _outcome(decision: Decision) -> tuple[Any, ...]:
    return (decision.effect, decision.approvals_required, decision.approver_role)


def _describe(decision: Decision) -> dict[str, Any]:
    return {
        "effect": decision.effect.value,
        "rule": decision.rule,
        "reason": decision.reason,
        "approvals_required": decision.approvals_required,
        "approver_role": decision.approver_role,
    }
