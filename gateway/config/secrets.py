"""Secrets are references, not literals: `${env:NAME}` reads an environment variable,
`${file:PATH}` a file (relative to the config file; one trailing newline dropped, as
Kubernetes and Docker secret files usually carry one).

A field typed `Secret` holds a `SecretStr`: it prints as `**********` in logs, reprs and
error messages. A literal value in a secret field is refused unless the file says
`allow_inline_secrets: true` (the demo config). `Locator` is for values that are usually
not secret but may embed a password (database and Redis URLs): references resolve the
same way, and a literal is refused only when it carries a password.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BeforeValidator, SecretStr, ValidationInfo, WithJsonSchema

from gateway.config.problems import NOT_SHOWN, KeyProblem

_REFERENCE = re.compile(r"^\$\{(env|file):([^}]+)\}$")


@dataclass(frozen=True, slots=True)
class SecretSources:
    """Where references are resolved; passed as the validation context. Without one (a
    settings object built in code) the process environment and the working directory are
    used, and literals are accepted: code is not a file a secret could leak from."""

    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    base_dir: Path = field(default_factory=Path.cwd)
    allow_inline: bool = True


class EnvironmentValue(str):
    """Text a `GATEWAY_...` variable gave: not written into the file, so never "inline"."""

    __slots__ = ()


def _sources(info: ValidationInfo) -> SecretSources:
    context = info.context
    return context if isinstance(context, SecretSources) else SecretSources()


def _read_reference(kind: str, name: str, sources: SecretSources) -> str:
    if kind == "env":
        value = sources.environ.get(name)
        if value is None:
            raise KeyProblem("", f"environment variable {name} is not set (referenced as ${{env:{name}}})")
        return value
    path = Path(name) if Path(name).is_absolute() else sources.base_dir / name
    try:
        return path.read_text(encoding="utf-8").removesuffix("\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not valid UTF-8"
        raise KeyProblem("", f"cannot read secret file {name} (referenced as ${{file:{name}}}): {reason}") from None


def resolve(value: str, sources: SecretSources) -> tuple[str, bool]:
    """The value a reference stands for, and whether it was one."""
    match = _REFERENCE.match(value)
    if match is None:
        return value, False
    return _read_reference(match.group(1), match.group(2), sources), True


def _secret(value: Any, info: ValidationInfo) -> SecretStr:
    if isinstance(value, SecretStr):
        return value
    if not isinstance(value, str):
        raise KeyProblem("", f"{NOT_SHOWN}: expected text, or a ${{env:NAME}} or ${{file:PATH}} reference")
    sources = _sources(info)
    resolved, referenced = resolve(value, sources)
    if not (referenced or sources.allow_inline or isinstance(value, EnvironmentValue)):
        raise KeyProblem(
            "",
            "a secret written into the file is refused: use ${env:NAME} or ${file:PATH} "
            "(or set allow_inline_secrets: true for a demo)",
        )
    if not resolved:
        raise KeyProblem("", f"{NOT_SHOWN}: empty")
    return SecretStr(resolved)


def _locator(value: Any, info: ValidationInfo) -> Any:
    if not isinstance(value, str):
        return value
    sources = _sources(info)
    resolved, referenced = resolve(value, sources)
    inline = not (referenced or sources.allow_inline or isinstance(value, EnvironmentValue))
    if inline and urlsplit(resolved).password:
        raise KeyProblem(
            "",
            "a URL with a password written into the file is refused: use ${env:NAME} or ${file:PATH} "
            "(or set allow_inline_secrets: true for a demo)",
        )
    return resolved


_SECRET_SCHEMA = {
    "type": "string",
    "minLength": 1,
    "writeOnly": True,
    "examples": ["${env:NAME}", "${file:/run/secrets/name}"],
}

#: A credential: a reference (or, with allow_inline_secrets, a literal), held as SecretStr.
Secret = Annotated[
    SecretStr,
    BeforeValidator(_secret),
    WithJsonSchema(_SECRET_SCHEMA),
]
_HTTP_URL = re.compile(r"^https?://[^\s/]+")


def _http_url(secret: SecretStr) -> SecretStr:
    if not _HTTP_URL.match(secret.get_secret_value()):
        raise KeyProblem("", f"{NOT_SHOWN}: expected an http:// or https:// URL")
    return secret


#: A URL that is itself a credential (a webhook whose path or query carries its token).
SecretUrl = Annotated[
    SecretStr,
    BeforeValidator(_secret),
    AfterValidator(_http_url),
    WithJsonSchema({**_SECRET_SCHEMA, "examples": ["${env:WEBHOOK_URL}"]}),
]
#: A path or URL that may embed a password: references resolve; stays plain text.
Locator = Annotated[str, BeforeValidator(_locator)]


def reveal(secret: SecretStr | None) -> str | None:
    return None if secret is None else secret.get_secret_value()


def url_target(url: SecretStr | str) -> str:
    """`host[:port]` of a URL: what logs and records may name, never the userinfo, path or
    query (where a webhook carries its token)."""
    parts = urlsplit(url.get_secret_value() if isinstance(url, SecretStr) else url)
    host = parts.hostname or ""
    return f"{host}:{parts.port}" if parts.port else host


def revealed(values: Mapping[str, SecretStr]) -> dict[str, str]:
    """Secret-valued headers as the request that carries them needs them."""
    return {name: value.get_secret_value() for name, value in values.items()}
