"""Approval messages in a Slack channel: posted when a call is held, updated in place on
every vote and on the outcome, whichever channel (Slack, console, CLI, API) it came from."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gateway.integrations.notification_log import CallRecords, slack_context
from gateway.integrations.settings import SlackSettings
from gateway.integrations.slack_api import SlackApi
from gateway.integrations.slack_blocks import approval_message
from gateway.models import Approval

Redact = Callable[[Mapping[str, Any]], tuple[dict[str, Any], str]]


class SlackChannel:
    name = "slack"

    def __init__(
        self, settings: SlackSettings, api: SlackApi, records: CallRecords, redact: Redact, console_url: str | None
    ) -> None:
        self.target = settings.channel
        self.events: tuple[str, ...] = settings.events
        self._settings = settings
        self._api = api
        self._records = records
        self._redact = redact
        self._console_url = console_url

    async def deliver(self, event: str, approval: Approval) -> Mapping[str, Any]:
        shown = {k: approval.arguments[k] for k in self._settings.argument_keys if k in approval.arguments}
        context = await slack_context(self._records, approval.call_id, approval.approval_id)
        arguments = self._redact(shown)[0] if shown else {}
        message = approval_message(approval, arguments, context.reason, self._console_url)
        if event == "requested" or context.message is None:
            answer = await self._api.call("chat.postMessage", {"channel": self._settings.channel, **message})
            return {"method": "chat.postMessage", "channel": answer.get("channel"), "ts": answer.get("ts")}
        channel, ts = context.message
        await self._api.call("chat.update", {"channel": channel, "ts": ts, **message})
        return {"method": "chat.update", "updated": ts}

    async def close(self) -> None:
        await self._api.close()
