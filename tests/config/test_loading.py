"""Configuration: every error names the key and the value; the environment overrides at
any depth; all problems are reported at once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from connectors.base import create_connector
from gateway.config import ConfigError, GatewayConfig, load_config, parse_config

SECRET = "config-test-secret-0123456789-0123456789"
REPO = Path(__file__).resolve().parents[2]


def _parse(raw: Any, environ: dict[str, str] | None = None) -> GatewayConfig:
    return parse_config(raw, base_dir=Path("/srv/gw"), environ=environ or {})


def _problems(raw: Any, environ: dict[str, str] | None = None) -> tuple[str, ...]:
    with pytest.raises(ConfigError) as raised:
        _parse(raw, environ)
    return raised.value.problems


def test_the_shipped_example_is_valid() -> None:
    config = load_config(REPO / "gateway.example.yaml", environ={})
    assert config.server.port == 8080
    assert {c.name: c.kind for c in config.connectors} == {
        "sap": "sap",
        "oracle": "oracle",
        "mainframe": "mainframe",
        "helpdesk": "openapi",
        "echo": "mcp",
    }
    for settings in config.connectors:
        create_connector(settings)


def test_defaults_and_relative_paths() -> None:
    config = _parse({"allow_inline_secrets": True, "identity": {"secret": SECRET}})
    assert config.server.host == "127.0.0.1"
    assert config.resolve(config.audit.database) == Path("/srv/gw/var/gateway.db")
    assert config.resolve("/abs/policies") == Path("/abs/policies")
    assert config.approvals.database == config.audit.database


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"server": {"port": "eighty"}}, "server.port: invalid value 'eighty': expected a valid integer"),
        ({"server": {"port": 70000}}, "server.port: invalid value 70000: expected less than or equal to 65535"),
        ({"server": {"port": 80.5}}, "server.port: invalid value 80.5"),
        ({"server": {"prot": 1}}, "server.prot: unknown key (did you mean 'port'?)"),
        ({"sever": {"port": 1}}, "sever: unknown key (did you mean 'server'?)"),
        (
            {"identity": {"secret": "short"}},
            "identity.secret: invalid value (not shown: a secret): must be at least 32 characters",
        ),
        ({"identity": {"algorithms": ["none"], "secret": SECRET}}, "identity.algorithms.0: invalid value 'none'"),
        ({"identity": {}}, "identity.secret: required for HS* algorithms"),
        ({}, "identity.secret: required for HS* algorithms"),
        ({"identity": {"algorithms": ["RS256"]}}, "identity.public_key_file: required for RS*/ES* algorithms"),
        ({"policy": {"watch": "yes"}}, "policy.watch: invalid value 'yes': expected a valid boolean"),
        ({"audit": {"redact_patterns": ["("]}}, "audit.redact_patterns.0: invalid regular expression '('"),
        ({"approvals": {"webhooks": [{"urll": "x"}]}}, "approvals.webhooks.0.urll: unknown key (did you mean 'url'?)"),
        ({"approvals": {"webhooks": [{"urll": "x"}]}}, "approvals.webhooks.0.url: required"),
        ({"limits": {"rules": [{"per": "agent", "rate_per_second": 0}]}}, "limits.rules.0.rate_per_second: invalid"),
        ({"limits": {"redis_url": "http://x"}}, "limits.redis_url: expected a redis:// or rediss:// URL"),
        ({"frontdoors": {"unprefixed_connector": "nope"}}, "frontdoors.unprefixed_connector: no connector named"),
        ([], "(top level): expected a mapping of sections, got list"),
    ],
)
def test_errors_name_key_and_value(raw: Any, message: str) -> None:
    if isinstance(raw, dict) and "identity" not in raw and raw:
        raw["identity"] = {"secret": SECRET}
    if isinstance(raw, dict):
        raw["allow_inline_secrets"] = True
    assert any(message in problem for problem in _problems(raw)), _problems(raw)


@pytest.mark.parametrize(
    ("stanzas", "message"),
    [
        ({"sap": {"url": "x"}}, "connectors.sap.kind: required"),
        ({"my.sap": {"kind": "sap"}}, "connectors.my.sap: invalid connector name"),
        ({"crm": {"kind": "salesforce"}}, "connectors.crm.kind: unknown connector kind 'salesforce' (known: "),
        ({"crm": {"kind": "resilience"}}, "connectors.crm.kind: unknown connector kind 'resilience'"),
        ({"sap": "http://x"}, "connectors.sap: expected a mapping of options, got str"),
        (
            {"sap": {"kind": "sap", "url": "http://x", "auth": {"kind": "basic", "username": "u", "pasword": "p"}}},
            "connectors.sap.auth.pasword: unknown key (did you mean 'password'?)",
        ),
        (
            {"sap": {"kind": "sap", "url": "http://x", "username": "u", "password": "p"}},
            "connectors.sap.username: moved to connectors.sap.auth (kind: basic)",
        ),
        (
            {"o": {"kind": "oracle", "url": "http://x", "client_secret": "s"}},
            "connectors.o.client_secret: moved to connectors.o.auth (kind: oauth_client_credentials)",
        ),
        (
            {"sap": {"kind": "sap", "url": "http://x", "auth": {"kind": "kerberos"}}},
            "connectors.sap.auth.kind: unknown kind 'kerberos' (known: basic, bearer, api_key, ",
        ),
        (
            {
                "sap": {
                    "kind": "sap",
                    "url": "http://x",
                    "auth": {
                        "kind": "token_exchange",
                        "client_id": "g",
                        "client_secret": "s",
                        "audience": "https://sap",
                    },
                }
            },
            "connectors.sap.auth.token_url: required",
        ),
        (
            {
                "sap": {
                    "kind": "sap",
                    "url": "http://x",
                    "auth": {"kind": "basic", "username": "u", "password": "p"},
                    "retries": "two",
                }
            },
            "connectors.sap.retries: invalid value 'two': expected a valid integer",
        ),
        (
            {
                "sap": {
                    "kind": "sap",
                    "url": "http://x",
                    "auth": {"kind": "basic", "username": "u", "password": "p"},
                    "retries": 2.5,
                }
            },
            "connectors.sap.retries: invalid value 2.5",
        ),
        (
            {
                "sap": {
                    "kind": "sap",
                    "url": "http://x",
                    "auth": {"kind": "basic", "username": "u", "password": "p"},
                    "timeout_seconds": 0,
                }
            },
            "connectors.sap.timeout_seconds: invalid value 0: expected greater than 0",
        ),
        (
            {"echo": {"kind": "mcp", "url": "http://x/mcp", "sesions": 2}},
            "connectors.echo.sesions: unknown key (did you mean 'sessions'?)",
        ),
        (
            {"echo": {"kind": "mcp", "url": "http://x/mcp", "command": ["x"]}},
            "connectors.echo: give exactly one of url (Streamable HTTP) and command (stdio)",
        ),
        (
            {
                "mf": {
                    "kind": "mainframe",
                    "host": "h",
                    "port": 1,
                    "auth": {"kind": "basic", "username": "lower", "password": "p"},
                }
            },
            "connectors.mf.auth.username: invalid value 'lower'",
        ),
        (
            {"hd": {"kind": "openapi", "spec": "x.yaml", "auth": {"kind": "api_key", "key": "k", "header": "a b"}}},
            "connectors.hd.auth.header",
        ),
        (
            {
                "o": {
                    "kind": "oracle",
                    "url": "http://x",
                    "auth": {"kind": "oauth_client_credentials", "client_id": "c", "client_secret": "s"},
                    "on_behalf_of": "h",
                }
            },
            "connectors.o.on_behalf_of: unknown key (did you mean 'on_behalf_of_header'?)",
        ),
    ],
)
def test_connector_stanzas_are_checked_by_kind(stanzas: dict[str, Any], message: str) -> None:
    raw = {"allow_inline_secrets": True, "identity": {"secret": SECRET}, "connectors": stanzas}
    assert any(message in problem for problem in _problems(raw)), _problems(raw)


def test_every_problem_is_reported_at_once() -> None:
    raw = {
        "allow_inline_secrets": True,
        "server": {"port": "x", "hots": "h"},
        "connectors": {"sap": {"kind": "sap", "url": "ftp://x", "auth": {"kind": "basic", "username": "u"}}},
    }
    assert sorted(_problems(raw)) == [
        "connectors.sap.auth.password: required",
        "connectors.sap.url: invalid value 'ftp://x': string should match pattern '^https?://'",
        "identity.secret: required for HS* algorithms (at least 32 characters)",
        "server.hots: unknown key (did you mean 'host'?)",
        "server.port: invalid value 'x': expected a valid integer",
    ]


def test_environment_overrides_the_file() -> None:
    config = _parse(
        {"allow_inline_secrets": True, "identity": {"secret": SECRET}, "server": {"port": 8080}},
        {"GATEWAY_SERVER__PORT": "9000", "GATEWAY_POLICY__WATCH": "false", "GATEWAY_IDENTITY__ISSUER": "corp-idp"},
    )
    assert (config.server.port, config.policy.watch, config.identity.issuer) == (9000, False, "corp-idp")
    problems = _problems(
        {"identity": {"secret": SECRET}, "allow_inline_secrets": True}, {"GATEWAY_SERVER__PORT": "many"}
    )
    assert problems == ("server.port: invalid value 'many': expected a valid integer",)


def test_environment_overrides_at_any_depth() -> None:
    raw = {
        "identity": {"secret": "${env:SECRET}"},
        "connectors": {
            "sap": {
                "kind": "sap",
                "url": "http://file",
                "auth": {"kind": "basic", "username": "u", "password": "${env:PW}"},
            }
        },
    }
    environ = {
        "SECRET": SECRET,
        "PW": "pw",
        "GATEWAY_CONNECTORS__SAP__URL": "http://env/sap",
        "GATEWAY_CONNECTORS__SAP__RETRIES": "4",
        "GATEWAY_AUDIT__REDACT_KEYS": '["ssn", "iban"]',
        # Not config keys: the CLI's and the test suite's own variables are left alone.
        "GATEWAY_CONFIG": "gateway.yaml",
        "GATEWAY_REQUIRE_SERVICES": "1",
    }
    config = _parse(raw, environ)
    (sap,) = config.connectors
    assert (sap.options["url"], sap.options["retries"]) == ("http://env/sap", 4)
    assert config.audit.redact_keys == ("ssn", "iban")
    problems = _problems(raw, {**environ, "GATEWAY_CONNECTORS__SAP__RETRIES": "two"})
    assert problems == ("connectors.sap.retries: invalid value 'two': expected a valid integer",)


def test_settings_are_immutable() -> None:
    config = _parse({"allow_inline_secrets": True, "identity": {"secret": SECRET}})
    with pytest.raises(ValueError, match="frozen"):
        config.server.port = 1  # type: ignore[misc]
    assert isinstance(config.server.allowed_hosts, tuple)


def test_unreadable_and_malformed_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("server:\n  port: [1,\n")
    with pytest.raises(ConfigError, match="is not valid YAML at line"):
        load_config(bad)
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(binary)
