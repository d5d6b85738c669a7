"""Teams cards and e-mails reach real local receivers (an HTTP workflow stand-in and an
aiosmtpd SMTP server); every attempt is audited and shown by `gateway approvals show`."""

from __future__ import annotations

import asyncio
import contextlib
import email
import email.policy
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, Session
from click.testing import CliRunner
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.cli.approvals import approvals
from gateway.config import WebhookSettings
from gateway.integrations.settings import EmailSettings, IntegrationSettings, TeamsSettings
from gateway.serving import free_port
from tests.support.approvals import approval_stack, approver, digest, make_call, needs_approval, serve, token
from tests.support.siem import make_tls

CONSOLE = "https://gw.example"


class Workflow:
    """A Teams workflow stand-in: refuses the first `failures` posts with 503."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.attempts = 0
        self.cards: list[dict[str, Any]] = []

    async def endpoint(self, request: Request) -> JSONResponse:
        self.attempts += 1
        if self.attempts <= self.failures:
            return JSONResponse({"error": "throttled"}, status_code=503)
        self.cards.append(await request.json())
        return JSONResponse({}, status_code=202)


class Mailbox:
    """aiosmtpd handler: keeps every message; refuses recipients at `refused.example` for good."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []

    async def handle_RCPT(self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any) -> str:
        if address.endswith("@refused.example"):
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        self.messages.append(email.message_from_bytes(raw, policy=email.policy.default))  # type: ignore[arg-type]
        return "250 Message accepted"


@contextlib.contextmanager
def smtp_server() -> Any:
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, controller.port
    finally:
        controller.stop()


@contextlib.asynccontextmanager
async def workflow(failures: int = 0) -> AsyncIterator[tuple[Workflow, str]]:
    receiver = Workflow(failures)
    async with serve(Starlette(routes=[Route("/workflow", receiver.endpoint, methods=["POST"])])) as url:
        yield receiver, f"{url}/workflow"


async def wait_until(predicate: Any, seconds: float = 10) -> None:
    async with asyncio.timeout(seconds):
        while not predicate():
            await asyncio.sleep(0.02)


async def test_teams_card_and_email_with_console_links_audited_and_shown(tmp_path: Path) -> None:
    with smtp_server() as (mailbox, port):
        async with workflow(failures=1) as (teams, teams_url):
            settings = IntegrationSettings(
                teams=TeamsSettings(webhook_url=teams_url),
                email=EmailSettings(
                    host="127.0.0.1",
                    port=port,
                    security="none",
                    sender="gateway@example.com",
                    recipients=("approvers@example.com",),
                    events=("requested", "decided"),
                ),
                backoff_seconds=0.05,
            )
            async with approval_stack(tmp_path, settings, console_url=CONSOLE) as stack:
                call = make_call()
                held = await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
                approval_id = held.approval.approval_id
                await stack.service.vote(approval_id, approver("alice"), True, "fine")
                await wait_until(lambda: len(teams.cards) == 2 and len(mailbox.messages) == 2)
                await _notifications_of(stack, call.call_id, 5)
                shown = await asyncio.to_thread(
                    CliRunner().invoke,
                    approvals,
                    ["show", approval_id],
                    env={"GATEWAY_URL": stack.url, "GATEWAY_TOKEN": token("alice")},
                )
                records = await stack.audit.store.call_records([call.call_id])

    link = f"{CONSOLE}/console#/approvals/{approval_id}"
    requested, decided = teams.cards
    card = requested["attachments"][0]
    assert card["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert card["content"]["type"] == "AdaptiveCard"
    assert card["content"]["body"][0]["text"] == "Approval needed: sap.transfer"
    assert card["content"]["actions"] == [
        {"type": "Action.OpenUrl", "title": "Approve or deny in the console", "url": link}
    ]
    facts = {f["title"]: f["value"] for f in decided["attachments"][0]["content"]["body"][1]["facts"]}
    assert facts["State"] == "approved" and facts["Approved by"] == "alice: fine"

    first, second = mailbox.messages
    assert first["To"] == "approvers@example.com" and first["From"] == "gateway@example.com"
    assert first["Subject"] == "[gateway] Approval needed: sap.transfer (pending)"
    assert link in first.get_content()
    assert second["Subject"] == "[gateway] Approval decided: sap.transfer (approved)"

    notes = [(r.kind, r.data["channel"], r.data["event"]) for r in records if r.kind.startswith("notification.")]
    assert ("notification.retried", "teams", "requested") in notes, "the 503 is audited as a retry"
    assert sorted(n for n in notes if n[0] == "notification.sent") == [
        ("notification.sent", "email", "decided"),
        ("notification.sent", "email", "requested"),
        ("notification.sent", "teams", "decided"),
        ("notification.sent", "teams", "requested"),
    ]
    assert shown.exit_code == 0, shown.output
    assert "notifications" in shown.output
    rows = [line.split() for line in shown.output.splitlines()]
    assert any(row[1:4] == ["teams", "requested", "retried"] for row in rows if len(row) > 3), shown.output
    assert "HTTP 503" in shown.output
    assert any(row[1:4] == ["email", "decided", "sent"] for row in rows if len(row) > 3), shown.output


async def test_a_refused_recipient_fails_once_and_a_dead_server_is_retried_then_failed(tmp_path: Path) -> None:
    with smtp_server() as (mailbox, port):
        settings = IntegrationSettings(
            email=EmailSettings(
                host="127.0.0.1", port=port, security="none", sender="gw@example.com", recipients=("x@refused.example",)
            ),
            backoff_seconds=0.05,
            attempts=3,
        )
        async with approval_stack(tmp_path / "refused", settings) as stack:
            call = make_call()
            await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
            refused = await _notifications_of(stack, call.call_id, 1)
    dead = IntegrationSettings(
        email=EmailSettings(
            host="127.0.0.1", port=free_port(), security="none", sender="gw@example.com", recipients=("a@example.com",)
        ),
        backoff_seconds=0.05,
        attempts=3,
    )
    async with approval_stack(tmp_path / "dead", dead) as stack:
        call = make_call()
        await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
        unreachable = await _notifications_of(stack, call.call_id, 3)
    assert [(r["outcome"], r["attempt"]) for r in refused] == [("failed", 1)], "a 5xx is final"
    assert "SMTP 550" in refused[0]["error"]
    assert not mailbox.messages
    assert [(r["outcome"], r["attempt"]) for r in unreachable] == [("retried", 1), ("retried", 2), ("failed", 3)]


async def _notifications_of(stack: Any, call_id: str, count: int) -> list[dict[str, Any]]:
    async with asyncio.timeout(10):
        while True:
            records = await stack.audit.store.call_records([call_id])
            found = [dict(r.data, outcome=r.kind.split(".")[1]) for r in records if r.kind.startswith("notification.")]
            if len(found) >= count:
                return found
            await asyncio.sleep(0.02)


async def test_webhook_deliveries_are_audited_like_every_channel(tmp_path: Path) -> None:
    async with workflow(failures=1) as (receiver, url):
        hooks = (WebhookSettings(url=f"{url}?secret=abc", events=("requested",)),)
        async with approval_stack(tmp_path, webhooks=hooks, webhook_backoff_seconds=0.05) as stack:
            call = make_call()
            await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
            found = await _notifications_of(stack, call.call_id, 2)
    assert [(n["channel"], n["outcome"], n["attempt"]) for n in found] == [
        ("webhook", "retried", 1),
        ("webhook", "sent", 2),
    ]
    assert found[0]["error"] == "HTTP 503" and found[0]["retry_in"] == 0.05
    assert all(n["target"] == url.split("/")[2] for n in found), "the URL's path and query (secrets) stay out"
    assert receiver.cards[0]["metadata"]["event_type"] == "approval_requested"


async def test_email_over_starttls_with_login_and_a_verified_certificate(tmp_path: Path) -> None:
    tls = make_tls(tmp_path / "pki")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(tls.cert, tls.key)
    logins: list[tuple[str, str]] = []

    def authenticate(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=data.password == b"mail-secret")

    mailbox = Mailbox()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=free_port(), tls_context=server_tls, require_starttls=True,
        authenticator=authenticate, auth_required=True,
    )  # fmt: skip
    controller.start()
    try:
        mail: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": controller.port,
            "username": "gateway",
            "password": "mail-secret",
            "sender": "gw@example.com",
            "recipients": ("a@example.com",),
        }
        trusted = IntegrationSettings(email=EmailSettings(**mail, ca_file=str(tls.ca)))
        async with approval_stack(tmp_path / "trusted", trusted) as stack:
            call = make_call()
            await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
            delivered = await _notifications_of(stack, call.call_id, 1)
        untrusted = IntegrationSettings(email=EmailSettings(**mail), attempts=1)
        async with approval_stack(tmp_path / "untrusted", untrusted) as stack:
            call = make_call()
            await stack.service.hold(call, needs_approval(1), digest(call), wait_seconds=0)
            refused = await _notifications_of(stack, call.call_id, 1)
    finally:
        controller.stop()
    assert [n["outcome"] for n in delivered] == ["sent"] and len(mailbox.messages) == 1
    assert logins == [("gateway", "mail-secret")], "one login, after STARTTLS"
    assert refused[0]["outcome"] == "failed" and "CERTIFICATE_VERIFY_FAILED" in refused[0]["error"]
