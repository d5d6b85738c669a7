"""`token_exchange` (RFC 8693): the caller's token is exchanged at the identity provider for
one whose audience is the backend, so the backend sees the person the agent acts for (the
exchanged token names the gateway in its `act` claim) and applies that person's own
authorizations.

Exchanged tokens are cached per caller (issuer, subject, client and actor chain: two agents
acting for one person keep separate tokens) until shortly before they expire, one exchange
in flight per caller, the cache bounded. There is no fallback: a call without the caller's
token, with an expired one, or whose exchange is refused is refused (CredentialRefused),
never sent as the technical user. No token is logged or put into an error message."""

from __future__ import annotations

import time
from datetime import UTC, datetime

from connectors.auth.cache import TokenCache
from connectors.auth.credential import Credential, caller_key
from connectors.auth.settings import TokenExchangeAuth
from connectors.auth.token_endpoint import IssuedToken, TokenEndpoint
from connectors.base import CallContext
from gateway.errors import CredentialRefused
from gateway.models import CallerToken

GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"
ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token"
#: A caller's token this close to its expiry is not exchanged: the IdP would refuse it on
#: the way, or hand back a token the backend refuses.
EXPIRY_MARGIN_SECONDS = 5.0


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds")


class TokenExchange:
    acts_for_caller = True

    def __init__(self, settings: TokenExchangeAuth, connector: str, timeout: float) -> None:
        self._connector = connector
        self._audience = settings.audience
        self._endpoint = TokenEndpoint(settings, settings.token_url, connector, timeout)
        self._cache = TokenCache(settings.cache_size, settings.refresh_before_seconds)
        self._form = {
            "grant_type": GRANT_TYPE,
            "subject_token_type": ACCESS_TOKEN_TYPE,
            "requested_token_type": ACCESS_TOKEN_TYPE,
            "audience": settings.audience,
        }
        if settings.scopes:
            self._form["scope"] = " ".join(settings.scopes)
        if settings.resource:
            self._form["resource"] = settings.resource

    async def credential(self, context: CallContext | None) -> Credential | None:
        if context is None:
            return None  # a request for nobody (health probe) carries no credential
        caller = self._usable(context.caller_token)
        token = await self._cache.get(caller_key(context), lambda: self._exchange(caller))
        identity = {
            "kind": "token_exchange",
            "audience": self._audience,
            "subject": str(token.claims.get("sub", context.principal.subject)),
        }
        if "jti" in token.claims:
            identity["jti"] = str(token.claims["jti"])
        return Credential(identity=identity, headers={"authorization": f"Bearer {token.value}"}, token=token.value)

    def _usable(self, caller: CallerToken | None) -> CallerToken:
        if caller is None:
            raise CredentialRefused(
                f"{self._connector} acts for the caller (token exchange) and this call carries no caller token"
            )
        if caller.expires_at is not None and caller.expires_at < time.time() + EXPIRY_MARGIN_SECONDS:
            raise CredentialRefused(
                f"the caller's token expired at {_when(caller.expires_at)}, so it cannot be exchanged for "
                f"{self._connector}; call again with a fresh token (an approved call then runs under it)"
            )
        return caller

    async def _exchange(self, caller: CallerToken) -> IssuedToken:
        form = {**self._form, "subject_token": caller.reveal()}
        return await self._endpoint.request(form, f"to exchange the caller's token for audience {self._audience}")

    def rejected(self, credential: Credential) -> bool:
        self._cache.drop(credential.token)
        return True

    async def close(self) -> None:
        await self._endpoint.close()
