"""The approval integrations of a running gateway, built from the `integrations` section:
one audited notifier per configured channel, the Slack interactivity endpoint, and the
route that shows an approval's notifications."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.approvals.errors import ApprovalError
from gateway.approvals.service import ApprovalService, AuditSink
from gateway.auth_gate import principal_of, requires
from gateway.errors import Problem
from gateway.integrations.delivery import Channel, ChannelNotifier
from gateway.integrations.directory import ApproverDirectory
from gateway.integrations.email_channel import EmailChannel
from gateway.integrations.notification_log import CallRecords, notifications
from gateway.integrations.settings import IntegrationSettings
from gateway.integrations.slack_api import SlackApi
from gateway.integrations.slack_channel import Redact, SlackChannel
from gateway.integrations.slack_interactions import SlackInteractions
from gateway.integrations.teams_channel import TeamsChannel
from gateway.models import Principal

Authorize = Callable[[Request], Principal | Awaitable[Principal]]


class Integrations:
    def __init__(
        self,
        settings: IntegrationSettings,
        approvals: ApprovalService,
        audit: AuditSink,
        records: CallRecords,
        redact: Redact,
    ) -> None:
        self._approvals = approvals
        self._records = records
        self._slack_api: SlackApi | None = None
        self.slack: SlackInteractions | None = None
        console_url = approvals.settings.console_url
        channels: list[Channel] = []
        if settings.slack is not None:
            s = settings.slack
            self._slack_api = SlackApi(s.api_url, s.bot_token.get_secret_value(), s.timeout_seconds)
            directory = ApproverDirectory(settings.approvers, self._slack_api.user_email)
            self.slack = SlackInteractions(s, self._slack_api, directory, approvals, audit)
            channels.append(SlackChannel(s, self._slack_api, records, redact, console_url))
        if settings.teams is not None:
            channels.append(TeamsChannel(settings.teams, console_url))
        if settings.email is not None:
            channels.append(EmailChannel(settings.email, console_url))
        for channel in channels:
            # Closed by the approval service, which tells it every event.
            approvals.add_notifier(
                ChannelNotifier(
                    channel,
                    audit,
                    attempts=settings.attempts,
                    backoff_seconds=settings.backoff_seconds,
                    queue_size=settings.queue_size,
                )
            )

    def routes(self, authorize: Authorize) -> list[Route]:
        routes = [Route("/v1/approvals/{approval_id}/notifications", self._guarded(authorize), methods=["GET"])]
        if self.slack is not None:
            routes += self.slack.routes()
        return routes

    async def close(self) -> None:
        """After the approval service closed (and with it the notifiers using the API)."""
        if self.slack is not None:
            await self.slack.close()
        if self._slack_api is not None:
            await self._slack_api.close()

    def _guarded(self, authorize: Authorize) -> Callable[[Request], Awaitable[Response]]:
        """The notifications of an approval, for whoever may read the approval itself (the
        approvals API's admission and tenant scope)."""
        service = self._approvals
        needed = f"requires one of the approver roles: {', '.join(sorted(service.settings.approver_roles))}"

        async def endpoint(request: Request) -> Response:
            try:
                body = await self._notifications(request.path_params["approval_id"], principal_of(request.scope))
            except ApprovalError as exc:
                raise Problem(404, "not_found", exc.message) from None
            return JSONResponse(body, headers={"Cache-Control": "no-store"})

        return requires(service.scope.may_use_api, needed, authenticate=authorize)(endpoint)

    async def _notifications(self, approval_id: str, viewer: Principal) -> Mapping[str, Any]:
        stored = await self._approvals.get(approval_id, viewer)
        found = await notifications(self._records, stored.approval.call_id, approval_id)
        return {"approval_id": approval_id, "notifications": found, "now": time.time()}
