"""Approval e-mails over SMTP (STARTTLS, implicit TLS, or plain to a local relay), with a
link to the approval in the console. smtplib runs in a worker thread: the event loop
never waits on the mail server."""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from gateway.config.secrets import reveal
from gateway.integrations.delivery import DeliveryError
from gateway.integrations.settings import EmailSettings
from gateway.integrations.slack_blocks import console_link
from gateway.models import Approval

_SUBJECTS = {
    "requested": "Approval needed",
    "voted": "Vote received",
    "decided": "Approval decided",
    "expired": "Approval expired",
}


def approval_email(event: str, approval: Approval, settings: EmailSettings, console_url: str | None) -> EmailMessage:
    call = f"{approval.connector}.{approval.tool}"
    message = EmailMessage()
    message["From"] = settings.sender
    message["To"] = ", ".join(settings.recipients)
    message["Subject"] = f"[gateway] {_SUBJECTS[event]}: {call} ({approval.state.value})"
    message["Date"] = formatdate(localtime=False)
    message["Message-ID"] = make_msgid(domain="agent-gateway")
    lines = [
        f"Approval {approval.approval_id}: {call} requested by {approval.principal.subject}.",
        "",
        f"State:     {approval.state.value}",
        f"Rule:      {approval.rule or 'default'} (policy {approval.policy_version})",
        f"Approvals: {sum(v.approve for v in approval.votes)} of {approval.approvals_required}"
        + (f", role {approval.approver_role}" if approval.approver_role else ""),
    ]
    lines += [f"{'Approved' if v.approve else 'Denied'} by {v.approver}: {v.comment}" for v in approval.votes]
    link = console_link(console_url, approval.approval_id)
    if link:
        lines += ["", f"Open it in the console: {link}"]
    message.set_content("\n".join(lines) + "\n")
    return message


class EmailChannel:
    name = "email"

    def __init__(self, settings: EmailSettings, console_url: str | None) -> None:
        self.target = f"{settings.host}:{settings.port} to {', '.join(settings.recipients)}"
        self.events: tuple[str, ...] = settings.events
        self._settings = settings
        self._console_url = console_url

    async def deliver(self, event: str, approval: Approval) -> Mapping[str, Any]:
        message = approval_email(event, approval, self._settings, self._console_url)
        await asyncio.to_thread(self._send, message)
        return {"message_id": message["Message-ID"]}

    def _send(self, message: EmailMessage) -> None:
        s = self._settings
        context = ssl.create_default_context(cafile=s.ca_file)
        try:
            smtp: smtplib.SMTP
            if s.security == "tls":
                smtp = smtplib.SMTP_SSL(s.host, s.port, timeout=s.timeout_seconds, context=context)
            else:
                smtp = smtplib.SMTP(s.host, s.port, timeout=s.timeout_seconds)
            with smtp:
                if s.security == "starttls":
                    smtp.starttls(context=context)
                if s.username is not None:
                    smtp.login(s.username, reveal(s.password) or "")
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            refused = ", ".join(f"{rcpt} ({code})" for rcpt, (code, _) in exc.recipients.items())
            raise DeliveryError(
                f"SMTP {max(codes)}: recipients refused: {refused}", retryable=max(codes) < 500
            ) from None
        except smtplib.SMTPResponseException as exc:
            # 4xx is "try later"; 5xx (bad address, auth refused) will not get better.
            raise DeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}", retryable=exc.smtp_code < 500) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"{type(exc).__name__}: {exc}") from None

    async def close(self) -> None:
        pass
