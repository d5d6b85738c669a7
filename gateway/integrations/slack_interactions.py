"""POST /v1/integrations/slack/interactions: Slack's interactivity request URL.

Approve and Deny clicks become votes through `ApprovalService.vote`, the one path every
channel takes, so roles, self-approval, one vote each and quorum apply unchanged. A Deny
opens a modal asking why; its submission is the deny vote. The message itself is
updated by the Slack channel when the service announces the vote.

Every request is checked before anything else is read: the signature, the 5-minute
window and single use (see slack_signature). Refused requests are audited
(`slack.request_refused`); every handled action is audited as `slack.interaction`, with
the Slack user, the approver they map to and the outcome.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.approvals.errors import ApprovalError
from gateway.approvals.service import ApprovalService, AuditSink
from gateway.audit.kinds import RecordKind
from gateway.integrations.delivery import DeliveryError
from gateway.integrations.directory import ApproverDirectory
from gateway.integrations.settings import SlackSettings
from gateway.integrations.slack_api import SlackApi
from gateway.integrations.slack_blocks import APPROVE_ACTION, DENY_ACTION, DENY_CALLBACK, deny_modal
from gateway.integrations.slack_payloads import BlockActions, PayloadError, ViewSubmission, parse_payload
from gateway.integrations.slack_signature import SignatureRefused, SignatureVerifier
from gateway.models import Principal
from gateway.problems import problem_response

log = logging.getLogger(__name__)

PATH = "/v1/integrations/slack/interactions"
MAX_BODY = 65_536
_SLACK_HOOKS = "https://hooks.slack.com/"
#: The action of a submitted deny modal (a Deny click only opens the modal).
DENY_SUBMITTED = "deny_submitted"


class SlackInteractions:
    def __init__(
        self,
        settings: SlackSettings,
        api: SlackApi,
        directory: ApproverDirectory,
        service: ApprovalService,
        audit: AuditSink,
    ) -> None:
        self._settings = settings
        self._verifier = SignatureVerifier(settings.signing_secret.get_secret_value(), settings.replay_window_seconds)
        self._api = api
        self._directory = directory
        self._service = service
        self._audit = audit
        api_origin = urlsplit(settings.api_url)
        self._reply_origins = (_SLACK_HOOKS, f"{api_origin.scheme}://{api_origin.netloc}/")
        self._replies: set[asyncio.Task[None]] = set()

    def routes(self) -> list[Route]:
        return [Route(PATH, self.endpoint, methods=["POST"])]

    async def endpoint(self, request: Request) -> Response:
        body = await request.body()
        client = request.client.host if request.client else None
        if len(body) > MAX_BODY:
            return await self._refuse("oversized", f"the body is larger than {MAX_BODY} bytes", client, 413)
        headers = request.headers
        try:
            self._verifier.verify(headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature"), body)
        except SignatureRefused as exc:
            return await self._refuse(exc.reason, exc.detail, client, 401)
        try:
            raw = parse_qs(body.decode("utf-8"), strict_parsing=True).get("payload", [None])[0]
            if raw is None:
                raise PayloadError("the form has no 'payload' field")
            payload = parse_payload(raw)
        except (PayloadError, UnicodeDecodeError, ValueError) as exc:
            return await self._refuse("malformed", str(exc), client, 400)
        if isinstance(payload, BlockActions):
            return await self._clicked(payload)
        return await self._submitted(payload)

    async def close(self) -> None:
        await asyncio.gather(*self._replies, return_exceptions=True)

    async def _refuse(self, reason: str, detail: str, client: str | None, status: int) -> Response:
        try:
            await self._audit.append(
                RecordKind.SLACK_REQUEST_REFUSED, {"reason": reason, "detail": detail, "client": client}
            )
        except Exception:
            return problem_response(
                503, "audit_unavailable", "the audit log is unavailable; the request was not processed"
            )
        return problem_response(status, reason, detail)

    async def _clicked(self, payload: BlockActions) -> Response:
        action = payload.actions[0]
        if action.action_id not in (APPROVE_ACTION, DENY_ACTION):
            return Response(status_code=200)  # the console link button: nothing to do
        approval_id = action.value
        outcome = await self._act(payload.user.id, approval_id, action.action_id, "")
        if outcome is not None:
            self._reply(payload.response_url, f"Your {action.action_id} was not counted: {outcome}")
        elif action.action_id == DENY_ACTION:
            modal = deny_modal(approval_id, payload.container.channel_id, payload.container.message_ts)
            try:
                await self._api.call("views.open", {"trigger_id": payload.trigger_id, "view": modal})
            except DeliveryError as exc:
                self._reply(payload.response_url, f"Could not open the deny dialog ({exc}); deny in the console")
        return Response(status_code=200)

    async def _submitted(self, payload: ViewSubmission) -> Response:
        if payload.view.callback_id != DENY_CALLBACK:
            return Response(status_code=200)
        approval_id = str(payload.view.metadata().get("approval_id", ""))
        refused = await self._act(payload.user.id, approval_id, DENY_SUBMITTED, payload.view.comment())
        if refused is not None:
            return JSONResponse({"response_action": "errors", "errors": {"comment": refused[:150]}})
        return Response(status_code=200)

    async def _act(self, user_id: str, approval_id: str, action: str, comment: str) -> str | None:
        """Vote (or, for a Deny click, check that the approval exists); None when done,
        else why not. Either way the interaction is audited, on the approval's call."""
        principal = await self._principal(user_id)
        if principal is None:
            refused: str | None = "you are not in the gateway's approver directory"
        else:
            refused = await self._vote(principal, approval_id, action, comment)
        record: dict[str, Any] = {
            "approval_id": approval_id,
            "slack_user": user_id,
            "approver": principal.subject if principal else None,
            "action": action,
            "accepted": refused is None,
            "reason": refused,
        }
        try:
            await self._audit.append(RecordKind.SLACK_INTERACTION, record, call_id=await self._call_of(approval_id))
        except Exception:
            log.warning("slack interaction on %s not audited", approval_id, exc_info=True)
        return refused

    async def _vote(self, principal: Principal, approval_id: str, action: str, comment: str) -> str | None:
        try:
            if action in (APPROVE_ACTION, DENY_SUBMITTED):
                await self._service.vote(approval_id, principal, action == APPROVE_ACTION, comment)
            else:
                await self._service.get(approval_id)
        except ApprovalError as exc:
            return exc.message
        return None

    async def _call_of(self, approval_id: str) -> str | None:
        try:
            return (await self._service.get(approval_id)).approval.call_id
        except ApprovalError:
            return None

    async def _principal(self, user_id: str) -> Principal | None:
        try:
            return await self._directory.slack_user(user_id)
        except DeliveryError as exc:
            log.warning("cannot look up Slack user %s: %s", user_id, exc)
            return None

    def _reply(self, response_url: str | None, text: str) -> None:
        """An ephemeral answer to the clicking user, sent after Slack got its 200."""
        if not response_url or not response_url.startswith(self._reply_origins):
            return
        body = {"response_type": "ephemeral", "replace_original": False, "text": text}

        async def send() -> None:
            try:
                await self._api.respond(response_url, body)
            except DeliveryError as exc:
                log.warning("slack reply failed: %s", exc)

        task = asyncio.create_task(send())
        self._replies.add(task)
        task.add_done_callback(self._replies.discard)
