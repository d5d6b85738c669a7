"""Why a bearer token was refused. Every message names the check that failed."""

from __future__ import annotations

from gateway.errors import AuthError

__all__ = ["AuthError", "InsufficientScope", "KeysUnavailable", "MissingToken"]


class MissingToken(AuthError):
    error = None


class KeysUnavailable(AuthError):
    """The issuer's signing keys could not be fetched or have outlived their cache lifetime."""


class InsufficientScope(AuthError):
    """A valid token without a scope the gateway requires (403)."""

    status = 403
    error = "insufficient_scope"

    def __init__(self, message: str, scopes: tuple[str, ...]) -> None:
        super().__init__(message)
        self.scopes = scopes
