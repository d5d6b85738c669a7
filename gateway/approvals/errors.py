"""The one error approval operations raise, with a kind an HTTP front maps to a status."""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal["not_found", "forbidden", "conflict", "invalid", "unavailable", "limited"]


class ApprovalError(Exception):
    """A vote or lookup that cannot be done; the message says exactly why."""

    def __init__(self, kind: ErrorKind, message: str) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
