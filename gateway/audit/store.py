"""What the audit log needs from a database, so SQLite and PostgreSQL can both serve it."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Protocol

from gateway.audit.chain import Sealed
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.query import CallQuery
from gateway.models import AuditRecord


class StoreError(Exception):
    """The store could not do what was asked (full, locked, gone, refused)."""


@dataclass(frozen=True, slots=True)
class Head:
    size: int
    hash: str


class AuditStore(Protocol):
    async def open(self) -> Head:
        """Connect, create the schema if absent, and return the chain head."""

    async def close(self) -> None: ...

    async def ping(self) -> None:
        """Raise StoreError unless the store answers."""

    def exclusive(self) -> AbstractAsyncContextManager[Head | None]:
        """Hold off other writers of the same log until the block ends, yielding the chain
        head as it is now; None when this process is the only possible writer."""

    async def write(
        self, records: Sequence[Sealed], checkpoint: Checkpoint | None, merkle_state: bytes | None = None
    ) -> None:
        """Make the records (and checkpoint) durable in one transaction, or none of them.

        `merkle_state` is the Merkle frontier at the checkpoint: derived, unsigned data kept
        beside it so that opening a large log need not reread every record hash."""

    async def head(self) -> Head: ...

    async def record_hashes(self, after: int, upto: int) -> list[bytes]:
        """Hashes of records after+1..upto, in order (raw bytes)."""

    async def merkle_state(self) -> tuple[int, bytes] | None:
        """(size, merkle_state) stored with the latest checkpoint, if any."""

    async def records(self, after_seq: int, limit: int) -> list[AuditRecord]: ...

    async def latest(self, limit: int) -> list[AuditRecord]:
        """The last `limit` records, oldest first."""

    async def record(self, seq: int) -> AuditRecord | None: ...

    async def find_calls(self, query: CallQuery) -> list[str]:
        """call_ids of the calls matching the query, in order of receipt."""

    async def trace_calls(self, trace_id: str) -> list[str]: ...

    async def approval_calls(self, approval_id: str) -> list[str]:
        """call_ids of the calls whose records name this approval (the request, the execution)."""

    async def call_records(self, call_ids: Sequence[str]) -> list[AuditRecord]:
        """Every record of these calls, in log order."""

    async def checkpoints(self) -> list[Checkpoint]: ...
