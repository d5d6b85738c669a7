"""`oauth_client_credentials`: the gateway's own OAuth client identity. One token for every
call, fetched on the first, renewed shortly before it expires, and fetched again once when
the backend answers 401 (expired early or revoked)."""

from __future__ import annotations

from connectors.auth.cache import TokenCache
from connectors.auth.credential import Credential
from connectors.auth.settings import ClientCredentialsAuth
from connectors.auth.token_endpoint import TokenEndpoint
from connectors.base import CallContext
from gateway.errors import ConfigError

_GATEWAY = "gateway"  # the one cache key: the token is the gateway's, whoever calls


class ClientCredentials:
    acts_for_caller = False

    def __init__(self, settings: ClientCredentialsAuth, connector: str, timeout: float) -> None:
        if settings.token_url is None:  # the options of the connector's kind supply or require it
            raise ConfigError(f"connectors.{connector}.auth.token_url: required")
        self._endpoint = TokenEndpoint(settings, settings.token_url, connector, timeout)
        self._cache = TokenCache(1, settings.refresh_before_seconds)
        self._form = {"grant_type": "client_credentials"}
        if settings.scopes:
            self._form["scope"] = " ".join(settings.scopes)
        if settings.audience:
            self._form["audience"] = settings.audience
        if settings.resource:
            self._form["resource"] = settings.resource
        self._identity = {"kind": "oauth_client_credentials", "client_id": settings.client_id}

    async def credential(self, context: CallContext | None) -> Credential:
        token = await self._cache.get(
            _GATEWAY,
            lambda: self._endpoint.request(self._form, "to issue the gateway's own token (client credentials)"),
        )
        return Credential(
            identity=self._identity, headers={"authorization": f"Bearer {token.value}"}, token=token.value
        )

    def rejected(self, credential: Credential) -> bool:
        self._cache.drop(credential.token)
        return True

    async def close(self) -> None:
        await self._endpoint.close()
