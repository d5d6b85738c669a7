"""What a SIEM sink is to the shipper: `ship` returns once the sink has acknowledged the
whole batch, or raises SinkError; the shipper then sends the same batch again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from gateway.errors import GatewayError
from gateway.models import AuditRecord


class SinkError(GatewayError):
    """The batch was not acknowledged (sink down, refused, timed out)."""


class Sink(Protocol):
    async def ship(self, records: Sequence[AuditRecord]) -> None: ...

    async def close(self) -> None: ...
