"""Re-deciding recorded calls under a candidate policy: what a change would do to real traffic.

Reads the "call.received"/"call.decided" pairs of an audit log (in order, by call id),
decides each call again with the candidate engine under the context it was made in
(hour and weekday from the record's time, tenant and front door from the record), and
reports every call whose outcome would change. Arguments are as recorded, so redacted
values ("[REDACTED]") are compared as that text; such calls are counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gateway.audit.kinds import RecordKind
from gateway.audit.redaction import REDACTED
from gateway.models import AuditRecord, Decision, Principal, RequestKind, policy_connector
from gateway.policy.context import call_context
from gateway.policy.engine import PolicyEngine


@dataclass(frozen=True, slots=True)
class ReplayedCall:
    call_id: str
    seq: int
    at: float
    subject: str
    tool: str
    before_effect: str
    before_rule: str | None
    after: Decision

    @property
    def changed(self) -> bool:
        return self.before_effect != self.after.effect.value


@dataclass(frozen=True, slots=True)
class ReplayReport:
    replayed: int = 0
    #: Calls whose effect would change, in log order.
    changed: tuple[ReplayedCall, ...] = ()
    #: Same effect, different deciding rule.
    rule_changed: int = 0
    #: Received calls without a decision (rejected earlier, e.g. by schema validation).
    undecided: int = 0
    redacted: int = 0
    transitions: Mapping[tuple[str, str], int] = field(default_factory=dict)


def _principal(data: Mapping[str, Any]) -> Principal:
    raw = data.get("principal") or {}
    return Principal(
        subject=str(raw.get("subject", "")),
        roles=tuple(str(role) for role in raw.get("roles") or ()),
        tenant=raw.get("tenant"),
        issuer=raw.get("issuer"),
        scopes=tuple(str(scope) for scope in raw.get("scopes") or ()),
        client=raw.get("client"),
        actors=tuple(str(actor) for actor in raw.get("actors") or ()),
    )


def _has_redacted(value: Any) -> bool:
    if isinstance(value, Mapping):
        return any(_has_redacted(item) for item in value.values())
    if isinstance(value, list):
        return any(_has_redacted(item) for item in value)
    return isinstance(value, str) and REDACTED in value


def replay(records: Iterable[AuditRecord], engine: PolicyEngine) -> ReplayReport:
    received: dict[str, AuditRecord] = {}
    changed: list[ReplayedCall] = []
    transitions: Counter[tuple[str, str]] = Counter()
    replayed = rule_changed = redacted = 0
    for record in records:
        if record.call_id is None:
            continue
        if record.kind == RecordKind.CALL_RECEIVED:
            received[record.call_id] = record
            continue
        if record.kind != RecordKind.CALL_DECIDED or record.call_id not in received:
            continue
        call = received.pop(record.call_id)
        principal = _principal(call.data)
        arguments = call.data.get("arguments") or {}
        moment = datetime.fromtimestamp(call.ts, UTC)
        context = call_context(principal, str(call.data.get("front_door", "mcp")), moment)
        # Records written before request kinds were all tool calls.
        kind = RequestKind(str(call.data.get("kind", RequestKind.TOOL)))
        connector = policy_connector(kind, str(call.data.get("connector", "")))
        tool = str(call.data.get("tool", ""))
        after = engine.decide(principal, connector, tool, arguments, context)
        replayed += 1
        redacted += _has_redacted(arguments)
        result = ReplayedCall(
            call_id=record.call_id,
            seq=call.seq,
            at=call.ts,
            subject=principal.subject,
            tool=f"{connector}.{tool}",
            before_effect=str(record.data.get("effect")),
            before_rule=record.data.get("rule"),
            after=after,
        )
        if result.changed:
            changed.append(result)
            transitions[(result.before_effect, after.effect.value)] += 1
        elif result.before_rule != after.rule:
            rule_changed += 1
    return ReplayReport(
        replayed=replayed,
        changed=tuple(changed),
        rule_changed=rule_changed,
        undecided=len(received),
        redacted=redacted,
        transitions=dict(transitions),
    )
