"""The context a condition can read as `r.ctx.*`, built in one place so policies and the
pipeline agree on names and units."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gateway.models import Principal


def call_context(principal: Principal, front_door: str, now: datetime | None = None) -> dict[str, Any]:
    """hour: 0-23 UTC; weekday: 0 (Monday) to 6 (Sunday), UTC; tenant, client, issuer: ""
    when the token has none; scopes: the token's scopes; claims: every verified claim."""
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    return {
        "hour": moment.hour,
        "weekday": moment.weekday(),
        "tenant": principal.tenant or "",
        "front_door": front_door,
        "scopes": list(principal.scopes),
        "client": principal.client or "",
        "issuer": principal.issuer or "",
        "claims": principal.claims,
    }
