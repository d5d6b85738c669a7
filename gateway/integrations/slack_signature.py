"""Slack request signatures: `v0=` HMAC-SHA256 of `v0:<timestamp>:<body>` with the app's
signing secret, within a replay window, compared in constant time, each signature
accepted once (a captured request cannot be sent again while it is still fresh)."""

from __future__ import annotations

import hashlib
import hmac
import time
from typing import Literal

from gateway.errors import GatewayError

RefusalReason = Literal["unsigned", "stale", "forged", "replayed"]


class SignatureRefused(GatewayError):
    def __init__(self, reason: RefusalReason, detail: str) -> None:
        super().__init__(detail)
        self.reason: RefusalReason = reason
        self.detail = detail


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` Slack sends for this body (tests sign with it too)."""
    base = b"v0:" + timestamp.encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


class SignatureVerifier:
    def __init__(self, secret: str, window_seconds: float) -> None:
        self._secret = secret
        self._window = window_seconds
        #: Signatures accepted within the window, with when they may be forgotten.
        self._seen: dict[str, float] = {}

    def verify(self, timestamp: str | None, signature: str | None, body: bytes, now: float | None = None) -> None:
        """Return if the request is Slack's and new; raise SignatureRefused saying why not."""
        now = time.time() if now is None else now
        if not timestamp or not signature:
            raise SignatureRefused("unsigned", "X-Slack-Request-Timestamp and X-Slack-Signature are required")
        try:
            sent_at = int(timestamp)
        except ValueError:
            raise SignatureRefused(
                "unsigned", f"X-Slack-Request-Timestamp is not an integer: {timestamp[:40]!r}"
            ) from None
        if abs(now - sent_at) > self._window:
            raise SignatureRefused(
                "stale", f"request timestamp is {int(now - sent_at)} s off (window {self._window:g} s)"
            )
        # Checked before the replay set: a forged signature must not evict or probe it.
        if not hmac.compare_digest(sign(self._secret, timestamp, body).encode(), signature.encode()):
            raise SignatureRefused("forged", "X-Slack-Signature does not match the body and the signing secret")
        self._forget(now)
        if signature in self._seen:
            raise SignatureRefused("replayed", "this signed request was already received")
        self._seen[signature] = sent_at + self._window

    def _forget(self, now: float) -> None:
        for signature in [s for s, until in self._seen.items() if until < now]:
            del self._seen[signature]
