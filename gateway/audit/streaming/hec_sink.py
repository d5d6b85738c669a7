"""Splunk HTTP Event Collector: a batch is one POST of concatenated JSON events to
/services/collector/event with `Authorization: Splunk <token>`.

With indexer acknowledgement on (the token's useACK), HEC answers with an ackId on the
request channel and the batch counts as shipped only once /services/collector/ack says
the indexers have it; before that, a lost batch is sent again.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import httpx

from gateway.audit.streaming.formats import record_json
from gateway.audit.streaming.sink import SinkError
from gateway.integrations.sink_settings import SplunkHecSink
from gateway.models import AuditRecord

_ACK_POLL_SECONDS = 0.2


class HecShipper:
    def __init__(self, settings: SplunkHecSink) -> None:
        self._settings = settings
        self._base = settings.url.rstrip("/")
        # One channel per shipper: acks are per channel, and HEC requires one when useACK is on.
        self._channel = str(uuid.uuid4())
        self._client = httpx.AsyncClient(
            headers={
                "Authorization": f"Splunk {settings.token.get_secret_value()}",
                "X-Splunk-Request-Channel": self._channel,
            },
            timeout=settings.timeout_seconds,
            verify=settings.ca_file or True,
            follow_redirects=False,
        )

    def event(self, record: AuditRecord) -> dict[str, Any]:
        s = self._settings
        event: dict[str, Any] = {
            "time": round(record.ts, 6),
            "source": s.source,
            "sourcetype": s.sourcetype,
            "event": record_json(record),
        }
        if s.index:
            event["index"] = s.index
        return event

    async def ship(self, records: Sequence[AuditRecord]) -> None:
        body = "\n".join(json.dumps(self.event(r), separators=(",", ":")) for r in records)
        answer = await self._post("/services/collector/event", content=body.encode())
        if self._settings.acknowledgement:
            ack_id = answer.get("ackId")
            if not isinstance(ack_id, int):
                raise SinkError("HEC acknowledgement is on but the answer has no ackId (is useACK on for the token?)")
            await self._acknowledged(ack_id)

    async def _acknowledged(self, ack_id: int) -> None:
        give_up = time.monotonic() + self._settings.ack_timeout_seconds
        while time.monotonic() < give_up:
            answer = await self._post("/services/collector/ack", json={"acks": [ack_id]})
            if answer.get("acks", {}).get(str(ack_id)) is True:
                return
            await asyncio.sleep(_ACK_POLL_SECONDS)
        raise SinkError(f"HEC did not acknowledge ackId {ack_id} within {self._settings.ack_timeout_seconds:g} s")

    async def _post(self, path: str, **kwargs: Any) -> dict[str, Any]:
        try:
            response = await self._client.post(self._base + path, **kwargs)
        except httpx.HTTPError as exc:
            raise SinkError(f"HEC {path}: {type(exc).__name__}: {exc}") from None
        try:
            answer = response.json()
        except ValueError:
            answer = {}
        if not response.is_success or not isinstance(answer, dict):
            text = answer.get("text") if isinstance(answer, dict) else None
            raise SinkError(f"HEC {path}: HTTP {response.status_code} {text or ''}".rstrip())
        return answer

    async def close(self) -> None:
        await self._client.aclose()
