"""Admitting tool definitions into the catalog: approved ones pass, new and changed ones
are quarantined (recorded, audited as `catalog.changed`, counted) until a reviewer approves
them. Descriptions are screened as they are pinned; the policy's caller-independent screen
rules say whether findings are flagged, stripped, held for review or refused."""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from prometheus_client import CollectorRegistry

from gateway.audit.kinds import RecordKind
from gateway.errors import GatewayError
from gateway.inspect.rule import ResultRule
from gateway.metric_declarer import MetricDeclarer
from gateway.models import ToolSpec, qualified_name, split_qualified_name
from gateway.pins.definition import definition, digest, readable_diff
from gateway.pins.settings import CatalogSettings
from gateway.pins.store import Pin, PinStore

log = logging.getLogger(__name__)

TRUSTED_FIRST = "trust-on-first-use"
STRICTNESS = {"flag": 0, "strip": 1, "hold": 2, "deny": 3}
Audit = Callable[[str, Mapping[str, Any]], Awaitable[Any]]
ScreenRules = Callable[[str, str], tuple[ResultRule, ...]]


class PinError(GatewayError):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class PinMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        metric = MetricDeclarer(registry)
        self.changes = metric.counter(
            "gateway_catalog_changes",
            "Tool definitions seen that differ from the approved ones, by connector and change (added, changed).",
            ["connector", "change"],
        )
        self.approvals = metric.counter(
            "gateway_catalog_approvals", "Tool definitions approved, by connector and how.", ["connector", "by"]
        )


class PinGate:
    def __init__(
        self,
        settings: CatalogSettings,
        store: PinStore,
        pinned: Iterable[str],
        audit: Audit,
        metrics: PinMetrics,
        screens: ScreenRules,
    ) -> None:
        self.settings = settings
        self.store = store
        self.pinned = frozenset(pinned)
        self._audit = audit
        self._metrics = metrics
        self._screens = screens
        #: connector.tool -> why it cannot be called (a definition waits for review).
        self._quarantined: dict[str, str] = {}

    async def admit(self, connector: str, specs: list[ToolSpec]) -> list[ToolSpec]:
        """The specs agents may see and call; the others are quarantined."""
        if connector not in self.pinned:
            return specs
        approved = await self.store.approved(connector)
        admitted: list[ToolSpec] = []
        for spec in specs:
            name = qualified_name(connector, spec.name)
            defined = definition(spec)
            pinned = digest(defined)
            findings, mode, rule = self._screen(connector, spec)
            if approved.get(spec.name) == pinned or await self._trust_first(connector, spec, approved, pinned, mode):
                self._quarantined.pop(name, None)
                admitted.append(self._stripped(spec, rule) if mode == "strip" else spec)
                continue
            old = await self.store.get(connector, spec.name, approved[spec.name]) if spec.name in approved else None
            pin = Pin(connector, spec.name, pinned, defined, "pending", time.time(), None, None,
                      {"checks": findings, "mode": mode, "rule": rule.location if rule else None})  # fmt: skip
            if await self.store.add(pin):
                await self._record_change(pin, old)
            self._quarantined[name] = self._reason(name, pinned, mode, rule)
        return admitted

    def quarantined(self, name: str) -> str | None:
        return self._quarantined.get(name)

    async def pending(self) -> list[tuple[Pin, Pin | None]]:
        """Each waiting definition with the approved one it would replace."""
        found: list[tuple[Pin, Pin | None]] = []
        for pin in await self.store.pending():
            approved = (await self.store.approved(pin.connector)).get(pin.tool)
            old = await self.store.get(pin.connector, pin.tool, approved) if approved else None
            found.append((pin, old))
        return found

    async def find(self, name: str, wanted: str | None = None) -> tuple[Pin, Pin | None]:
        """The pending definition of `name` (the one with digest `wanted`), and the approved one."""
        parts = split_qualified_name(name)
        matches = [(p, o) for p, o in await self.pending() if parts == (p.connector, p.tool)]
        if wanted is not None:
            matches = [(p, o) for p, o in matches if p.digest.startswith(wanted)]
        if not matches:
            raise PinError(
                404, f"no definition of {name!r} waits for review" + (f" with digest {wanted}" if wanted else "")
            )
        if len(matches) > 1:
            digests = ", ".join(p.digest[:12] for p, _ in matches)
            raise PinError(
                409, f"{len(matches)} definitions of {name!r} wait for review ({digests}): name one with its digest"
            )
        return matches[0]

    async def approve(self, name: str, reviewer: str, wanted: str | None = None) -> Pin:
        pin, old = await self.find(name, wanted)
        if pin.findings.get("mode") == "deny":
            raise PinError(
                409, f"{name} cannot be approved: screening refused its description ({pin.findings['rule']})"
            )
        await self.store.approve(pin.connector, pin.tool, pin.digest, reviewer)
        self._metrics.approvals.labels(pin.connector, "reviewer").inc()
        await self._audit(RecordKind.CATALOG_APPROVED, {
            "connector": pin.connector, "tool": pin.tool, "new_digest": pin.digest,
            "old_digest": old.digest if old else None, "approved_by": reviewer,
        })  # fmt: skip
        return pin

    async def _trust_first(
        self, connector: str, spec: ToolSpec, approved: Mapping[str, str], pinned: str, mode: str | None
    ) -> bool:
        if not self.settings.trust_on_first_use or spec.name in approved or mode in ("hold", "deny"):
            return False
        defined = definition(spec)
        pin = Pin(connector, spec.name, pinned, defined, "pending", time.time(), None, None, {})
        await self.store.add(pin)
        await self.store.approve(connector, spec.name, pinned, TRUSTED_FIRST)
        self._metrics.approvals.labels(connector, TRUSTED_FIRST).inc()
        await self._audit(RecordKind.CATALOG_CHANGED, {
            "connector": connector, "tool": spec.name, "change": "added", "old_digest": None, "new_digest": pinned,
            "approved_by": TRUSTED_FIRST, "diff": readable_diff(None, defined, qualified_name(connector, spec.name)),
        })  # fmt: skip
        return True

    async def _record_change(self, pin: Pin, old: Pin | None) -> None:
        change = "changed" if old else "added"
        self._metrics.changes.labels(pin.connector, change).inc()
        name = qualified_name(pin.connector, pin.tool)
        log.warning("tool %s: %s definition %s quarantined until a reviewer approves it", name, change, pin.digest[:12])
        await self._audit(RecordKind.CATALOG_CHANGED, {
            "connector": pin.connector, "tool": pin.tool, "change": change,
            "old_digest": old.digest if old else None, "new_digest": pin.digest, "approved_by": None,
            "diff": readable_diff(old.definition if old else None, pin.definition, name),
            "screening": pin.findings,
        })  # fmt: skip

    def _screen(self, connector: str, spec: ToolSpec) -> tuple[dict[str, int], str | None, ResultRule | None]:
        """Findings in the description, with the strictest mode among the rules that found any
        (deny, hold, strip, flag) and the rule that chose it."""
        findings: dict[str, int] = {}
        chosen: ResultRule | None = None
        for rule in self._screens(connector, spec.name):
            if rule.screen is None:
                continue
            counts: dict[str, int] = {}
            rule.screen.scan(f"{spec.title or ''}\n{spec.description}", counts, strip=False)
            for check, count in counts.items():
                findings[check] = max(findings.get(check, 0), count)
            if counts and (chosen is None or STRICTNESS[rule.mode] > STRICTNESS[chosen.mode]):
                chosen = rule
        return findings, chosen.mode if chosen else None, chosen

    @staticmethod
    def _stripped(spec: ToolSpec, rule: ResultRule | None) -> ToolSpec:
        if rule is None or rule.screen is None:
            return spec
        return dataclasses.replace(spec, description=rule.screen.scan(spec.description, {}, strip=True))

    @staticmethod
    def _reason(name: str, pinned: str, mode: str | None, rule: ResultRule | None) -> str:
        if mode == "deny" and rule is not None:
            return f"tool {name} is quarantined: screening refused its description ({rule.location})"
        return (
            f"tool {name} is quarantined: its definition (digest {pinned[:12]}) is new or changed since it was "
            f"reviewed; a reviewer must approve it (gateway tools approve {name})"
        )
