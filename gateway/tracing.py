"""W3C trace context: keep the agent's trace id, or start one, and hand the backend a
traceparent whose parent is the gateway's own span."""

from __future__ import annotations

import re
import secrets

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def continue_trace(header: str | None) -> tuple[str, str]:
    """(trace_id, traceparent for the next hop) from an incoming `traceparent` header."""
    match = _TRACEPARENT.match(header.strip().lower()) if header else None
    if match and match.group(1) != "0" * 32 and match.group(2) != "0" * 16:
        trace_id, flags = match.group(1), match.group(3)
    else:
        trace_id, flags = secrets.token_hex(16), "01"
    return trace_id, f"00-{trace_id}-{secrets.token_hex(8)}-{flags}"
