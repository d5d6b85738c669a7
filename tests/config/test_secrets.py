"""Secrets are references (`${env:NAME}`, `${file:PATH}`), never literals in the file, and
never shown again once read."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from gateway.config import ConfigError, GatewayConfig, parse_config, url_target

SECRET = "the-identity-secret-0123456789-abcdefgh"
SAP_PASSWORD = "sap-pass-4711"
DB_URL = "postgresql://gateway:db-pass-0815@db:5432/gateway"


def _raw(**extra: Any) -> dict[str, Any]:
    return {
        "identity": {"secret": "${env:ID_SECRET}"},
        "audit": {"database": "${file:secrets/db-url}"},
        "limits": {"redis_url": "${env:REDIS_URL}"},
        "connectors": {
            "sap": {
                "kind": "sap",
                "url": "http://127.0.0.1:1/sap",
                "auth": {"kind": "basic", "username": "u", "password": "${env:SAP_PW}"},
            },
            "echo": {"kind": "mcp", "url": "http://127.0.0.1:1/mcp", "headers": {"Authorization": "${env:TOKEN}"}},
            "local": {"kind": "mcp", "command": ["mcp-server"], "env": {"API_KEY": "${env:TOKEN}"}},
        },
        **extra,
    }


ENVIRON = {
    "ID_SECRET": SECRET,
    "SAP_PW": SAP_PASSWORD,
    "REDIS_URL": "redis://:redis-pass-99@127.0.0.1:6379/0",
    "TOKEN": "Bearer upstream-token-42",
}


@pytest.fixture
def base_dir(tmp_path: Path) -> Path:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "db-url").write_text(DB_URL + "\n")
    return tmp_path


def _parse(raw: dict[str, Any], base_dir: Path, environ: dict[str, str] | None = None) -> GatewayConfig:
    return parse_config(raw, base_dir=base_dir, environ=ENVIRON if environ is None else environ)


def test_references_resolve_from_environment_and_files(base_dir: Path) -> None:
    config = _parse(_raw(), base_dir)
    assert config.identity.secret is not None and config.identity.secret.get_secret_value() == SECRET
    assert config.audit.database == DB_URL == config.approvals.database  # one trailing newline dropped
    assert config.limits.redis_url == ENVIRON["REDIS_URL"]
    sap, echo, local = config.connectors
    assert sap.options["auth"]["password"].get_secret_value() == SAP_PASSWORD
    assert echo.options["headers"]["Authorization"].get_secret_value() == ENVIRON["TOKEN"]
    assert local.options["env"]["API_KEY"].get_secret_value() == ENVIRON["TOKEN"]


def test_secrets_do_not_show_in_reprs(base_dir: Path) -> None:
    config = _parse(_raw(), base_dir)
    shown = f"{config!r} {config} {config.connectors!r} {config.identity}"
    for value in (SECRET, SAP_PASSWORD, "upstream-token-42"):
        assert value not in shown


def test_a_missing_reference_is_named(base_dir: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        _parse(_raw(), base_dir, {k: v for k, v in ENVIRON.items() if k != "SAP_PW"})
    assert raised.value.problems == (
        "connectors.sap.auth.password: environment variable SAP_PW is not set (referenced as ${env:SAP_PW})",
    )
    (base_dir / "secrets" / "db-url").unlink()
    with pytest.raises(ConfigError, match=r"^audit\.database: cannot read secret file secrets/db-url .*No such file"):
        _parse(_raw(), base_dir)


def test_literal_secrets_are_refused_unless_allowed(base_dir: Path) -> None:
    raw = _raw()
    raw["identity"]["secret"] = SECRET
    raw["connectors"]["sap"]["auth"]["password"] = SAP_PASSWORD
    raw["audit"]["database"] = DB_URL
    with pytest.raises(ConfigError) as raised:
        _parse(raw, base_dir)
    assert [p.split(":")[0] for p in raised.value.problems] == [
        "identity.secret",
        "audit.database",
        "connectors.sap.auth.password",
    ]
    assert all("refused: use ${env:NAME} or ${file:PATH}" in p for p in raised.value.problems)
    for value in (SECRET, SAP_PASSWORD, "db-pass-0815"):
        assert value not in str(raised.value)
    assert _parse({**raw, "allow_inline_secrets": True}, base_dir).identity.secret is not None
    # A database path or URL without a password is not a secret.
    assert _parse(_raw(audit={"database": "var/audit.db"}), base_dir).audit.database == "var/audit.db"


def test_an_environment_override_is_not_inline(base_dir: Path) -> None:
    raw = _raw()
    del raw["identity"]
    config = _parse(raw, base_dir, {**ENVIRON, "GATEWAY_IDENTITY__SECRET": SECRET})
    assert config.identity.secret is not None and config.identity.secret.get_secret_value() == SECRET


def test_problems_with_a_secret_never_echo_it(base_dir: Path) -> None:
    short = "too-short-but-secret"
    with pytest.raises(ConfigError) as raised:
        _parse(_raw(), base_dir, {**ENVIRON, "ID_SECRET": short})
    assert str(raised.value) == "identity.secret: invalid value (not shown: a secret): must be at least 32 characters"
    raw = _raw()
    raw["connectors"]["sap"]["auth"]["pasword"] = raw["connectors"]["sap"]["auth"].pop("password")
    with pytest.raises(ConfigError) as raised:
        _parse({**raw, "allow_inline_secrets": True}, base_dir)
    assert "pasword: unknown key (did you mean 'password'?)" in str(raised.value)
    assert "${env:SAP_PW}" not in str(raised.value)


def test_a_url_is_named_by_its_host_only() -> None:
    """What records and logs may say of a secret URL: never its userinfo, path or query."""
    assert url_target(SecretStr("https://user:pw@hooks.example:8443/services/T/B/xyz?sig=1")) == "hooks.example:8443"
    assert url_target("http://teams.example/workflows/abc") == "teams.example"
