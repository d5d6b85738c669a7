"""The auditor's questions answered from a store: shared by the CLI and the REST routes."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import AsyncIterator

from gateway.audit.chain import Sealed, body_of
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.query import CallQuery, CallSummary, summarize
from gateway.audit.store import AuditStore
from gateway.models import AuditRecord


class AuditQueries:
    def __init__(self, store: AuditStore) -> None:
        self.store = store

    async def calls(self, query: CallQuery) -> list[CallSummary]:
        return await self._summaries(await self.store.find_calls(query))

    async def by_ids(self, call_ids: list[str]) -> list[CallSummary]:
        return await self._summaries(call_ids)

    async def trace(self, trace_id: str) -> list[CallSummary]:
        return await self._summaries(await self.store.trace_calls(trace_id))

    async def story(self, ident: str) -> list[CallSummary]:
        """The calls `ident` names, as a call id, a trace id or an approval id, with every
        call an approval ties to them: the held request and the execution after the vote."""
        call_ids = [ident] if await self.store.call_records([ident]) else await self.store.trace_calls(ident)
        if not call_ids:
            call_ids = await self.store.approval_calls(ident)
        calls = await self._summaries(call_ids)
        for approval_id in sorted({c.approval_id for c in calls if c.approval_id and c.approval_id != ident}):
            call_ids += [c for c in await self.store.approval_calls(approval_id) if c not in call_ids]
        return sorted(await self._summaries(call_ids), key=lambda c: c.seq)

    async def items(self, page: int = 5000) -> AsyncIterator[Sealed | Checkpoint]:
        """The whole log as verify and export read it, page by page from any store: records
        in order, each checkpoint right after the record it ends."""
        checkpoints = await self.store.checkpoints()
        at, after = 0, 0
        while records := await self.store.records(after, page):
            for record in records:
                yield Sealed(record.seq, record.hash, body_of(record))
                while at < len(checkpoints) and checkpoints[at].size <= record.seq:
                    yield checkpoints[at]
                    at += 1
            after = records[-1].seq
        for checkpoint in checkpoints[at:]:
            yield checkpoint

    async def _summaries(self, call_ids: list[str]) -> list[CallSummary]:
        by_call: dict[str, list[AuditRecord]] = defaultdict(list)
        for record in await self.store.call_records(call_ids):
            by_call[record.call_id or ""].append(record)
        return [summarize(c, by_call[c]) for c in call_ids if by_call[c]]
