"""The approver directory: which gateway approver a chat user is.

A Slack user is matched by member id first, then by the e-mail of their Slack profile
(asked of Slack once per user and remembered). Nobody outside the directory can vote.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from gateway.integrations.settings import ApproverEntry
from gateway.models import Principal

#: The issuer of principals that come from the directory, so they never pass for a JWT's.
DIRECTORY_ISSUER = "approver-directory"


def principal_of(entry: ApproverEntry) -> Principal:
    return Principal(subject=entry.subject, roles=entry.roles, tenant=entry.tenant, issuer=DIRECTORY_ISSUER)


class ApproverDirectory:
    def __init__(self, entries: Iterable[ApproverEntry], email_of: Callable[[str], Awaitable[str | None]]) -> None:
        entries = tuple(entries)
        self._by_id = {e.slack_user: e for e in entries if e.slack_user}
        self._by_email = {e.email.casefold(): e for e in entries if e.email}
        self._email_of = email_of
        self._emails: dict[str, str | None] = {}

    async def slack_user(self, user_id: str) -> Principal | None:
        """The approver this Slack member is, or None when they are not in the directory."""
        entry = self._by_id.get(user_id)
        if entry is None and self._by_email:
            if user_id not in self._emails:
                self._emails[user_id] = await self._email_of(user_id)
            email = self._emails[user_id]
            entry = self._by_email.get(email.casefold()) if email else None
        return principal_of(entry) if entry else None
