"""Why a bearer token was refused. Every message names the check that failed."""

from __future__ import annotations


class AuthError(Exception):
    """The request carries no usable credential (401); the message says which check failed."""

    status = 401
    #: RFC 6750 error code; None when the request carried no token at all.
    error: str | None = "invalid_token"
    #: The challenge for this refusal, set by the gate that knows the request.
    www_authenticate: str | None = None


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
