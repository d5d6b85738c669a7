"""Tokens from `gateway login`, one entry per gateway, in the user's config directory
(`$XDG_CONFIG_HOME/agent-gateway/credentials.json`, mode 0600 in a 0700 directory).
An access token about to expire is refreshed with the stored refresh token on use."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import click
import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError

#: Refresh this long before the access token expires, so a call does not race the expiry.
REFRESH_MARGIN_SECONDS = 30.0


class StoredLogin(BaseModel):
    """One signed-in identity at one gateway."""

    model_config = ConfigDict(extra="forbid")

    gateway: str = Field(description="The gateway's base URL.")
    issuer: str = Field(description="The identity provider that issued the tokens.")
    client_id: str = Field(description="The CLI's public client id at the identity provider.")
    token_endpoint: str = Field(description="Where tokens are refreshed.")
    resource: str = Field(description="The resource (RFC 8707) the tokens are for.")
    access_token: str
    refresh_token: str | None = None
    expires_at: float = Field(description="Unix time the access token expires.")


class NotSignedIn(click.ClickException):
    pass


def gateway_key(url: str) -> str:
    """Entries are per gateway: `.../mcp` and the base URL name the same one."""
    return url.rstrip("/").removesuffix("/mcp").rstrip("/")


def credentials_path() -> Path:
    return Path(click.get_app_dir("agent-gateway")) / "credentials.json"


def _load(path: Path) -> dict[str, StoredLogin]:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return {key: StoredLogin.model_validate(entry) for key, entry in raw.items()}
    except FileNotFoundError:
        return {}
    except (ValueError, ValidationError, AttributeError) as exc:
        raise click.ClickException(f"{path} is not a credentials file written by 'gateway login': {exc}") from None


def _write(path: Path, logins: dict[str, StoredLogin]) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    # Created 0600 from the first byte: the tokens are never readable by others, not even briefly.
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        json.dump({key: login.model_dump() for key, login in logins.items()}, handle, indent=2)
    os.chmod(temporary, 0o600)
    os.replace(temporary, path)


def save(login: StoredLogin, path: Path | None = None) -> Path:
    path = path or credentials_path()
    logins = _load(path)
    logins[gateway_key(login.gateway)] = login
    _write(path, logins)
    return path


def forget(url: str, path: Path | None = None) -> bool:
    path = path or credentials_path()
    logins = _load(path)
    if logins.pop(gateway_key(url), None) is None:
        return False
    _write(path, logins)
    return True


def _refreshed(login: StoredLogin) -> StoredLogin:
    if login.refresh_token is None:
        raise NotSignedIn(f"the sign-in for {login.gateway} has expired: run 'gateway login --url {login.gateway}'")
    data = {
        "grant_type": "refresh_token",
        "refresh_token": login.refresh_token,
        "client_id": login.client_id,
        "resource": login.resource,
    }
    try:
        response = httpx.post(login.token_endpoint, data=data, timeout=15.0)
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot refresh the sign-in at {login.token_endpoint}: {exc}") from None
    body = response.json() if response.headers.get("content-type", "").startswith("application/json") else {}
    if response.status_code != 200 or "access_token" not in body:
        reason = body.get("error_description") or body.get("error") or f"HTTP {response.status_code}"
        raise NotSignedIn(f"refreshing the sign-in failed ({reason}): run 'gateway login --url {login.gateway}'")
    return login.model_copy(
        update={
            "access_token": body["access_token"],
            "refresh_token": body.get("refresh_token", login.refresh_token),
            "expires_at": time.time() + float(body.get("expires_in", 300)),
        }
    )


def access_token(url: str, path: Path | None = None) -> str:
    """The signed-in access token for the gateway at `url`, refreshed when about to expire."""
    path = path or credentials_path()
    login = _load(path).get(gateway_key(url))
    if login is None:
        raise NotSignedIn(f"not signed in to {gateway_key(url)}: run 'gateway login', or pass --token")
    if login.expires_at - REFRESH_MARGIN_SECONDS <= time.time():
        login = _refreshed(login)
        save(login, path)
    return login.access_token


def bearer(url: str, token: str | None) -> str:
    """The token to send: the one given (`--token`, `GATEWAY_TOKEN`), else the signed-in one."""
    return token or access_token(url)
