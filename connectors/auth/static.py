"""Credentials that never change: `basic`, `bearer` and `api_key`. Every call reaches the
backend as the same technical identity, which the audit record names."""

from __future__ import annotations

import base64

from connectors.auth.credential import Credential
from connectors.auth.settings import ApiKeyAuth, BasicAuth, BearerAuth
from connectors.base import CallContext


def _basic(settings: BasicAuth) -> Credential:
    password = settings.password.get_secret_value()
    pair = base64.b64encode(f"{settings.username}:{password}".encode()).decode()
    return Credential(
        identity={"kind": "basic", "user": settings.username},
        headers={"authorization": f"Basic {pair}"},
        username=settings.username,
        password=password,
    )


def _bearer(settings: BearerAuth) -> Credential:
    token = settings.token.get_secret_value()
    return Credential(identity={"kind": "bearer"}, headers={"authorization": f"Bearer {token}"}, token=token)


def _api_key(settings: ApiKeyAuth) -> Credential:
    return Credential(
        identity={"kind": "api_key", "header": settings.header},
        headers={settings.header: settings.key.get_secret_value()},
    )


class StaticAuth:
    acts_for_caller = False

    def __init__(self, settings: BasicAuth | BearerAuth | ApiKeyAuth) -> None:
        if isinstance(settings, BasicAuth):
            self._credential = _basic(settings)
        elif isinstance(settings, BearerAuth):
            self._credential = _bearer(settings)
        else:
            self._credential = _api_key(settings)

    async def credential(self, context: CallContext | None) -> Credential:
        return self._credential

    def rejected(self, credential: Credential) -> bool:
        return False  # the same credential again would be refused again

    async def close(self) -> None:
        return None
