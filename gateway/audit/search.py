"""The auditor's questions answered from a store: shared by the CLI and the REST routes."""

from __future__ import annotations

from collections import defaultdict

from gateway.audit.query import CallQuery, CallSummary, summarize
from gateway.audit.store import AuditStore
from gateway.models import AuditRecord


class AuditQueries:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def calls(self, query: CallQuery) -> list[CallSummary]:
        return await self._summaries(await self.store.find_calls(query))

    async def trace(self, trace_id: str) -> list[CallSummary]:
        return await self._summaries(await self.store.trace_calls(trace_id))

    async def _summaries(self, call_ids: list[str]) -> list[CallSummary]:
        by_call: dict[str, list[AuditRecord]] = defaultdict(list)
        for record in await self.store.call_records(call_ids):
            by_call[record.call_id or ""].append(record)
        return [summarize(c, by_call[c]) for c in call_ids if by_call[c]]
