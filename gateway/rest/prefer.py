"""RFC 7240 `Prefer` for held calls: how long a caller will wait for a human decision."""

from __future__ import annotations

from collections.abc import Mapping

#: Where the status of a held call is read (`GET /v1/calls/{approval_id}`).
CALLS_PATH = "/v1/calls"


def preferred_wait(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait from `Prefer: respond-async` (0) and `Prefer: wait=N`; a wait given
    with respond-async bounds the wait (RFC 7240 4.1, 4.3). None: the configured hold time.
    Unrecognised or malformed preferences are ignored, as RFC 7240 asks."""
    wait: float | None = None
    for header in headers.get("prefer", "").split(","):
        token, _, value = header.split(";")[0].strip().partition("=")
        token = token.strip().lower()
        value = value.strip().strip('"')
        if token == "respond-async" and wait is None:
            wait = 0.0
        elif token == "wait" and value.isdigit():
            wait = float(value)
    return wait
