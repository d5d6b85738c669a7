"""Configuration: every error names the key and the value; the environment overrides."""

from __future__ import annotations

from pathlib import Path

import pytest

from connectors.base import create_connector
from gateway.config import ConfigError, load_config, parse_config

SECRET = "config-test-secret-0123456789-0123456789"
REPO = Path(__file__).resolve().parent.parent


def _parse(raw: dict, environ: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return parse_config(raw, base_dir=Path("/srv/gw"), environ=environ or {})


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
    config = _parse({"identity": {"secret": SECRET}})
    assert config.server.host == "127.0.0.1"
    assert config.resolve(config.audit.database) == Path("/srv/gw/var/gateway.db")
    assert config.resolve("/abs/policies") == Path("/abs/policies")


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"server": {"port": "eighty"}}, "server.port: invalid value 'eighty': 'eighty' is not of type 'integer'"),
        ({"server": {"port": 70000}}, "server.port: invalid value 70000"),
        ({"server": {"prot": 1}}, "server: Additional properties are not allowed ('prot' was unexpected)"),
        # A secret is never quoted back, even when it is wrong.
        ({"identity": {"secret": "short"}}, "identity.secret: invalid value (not shown: a secret): fails minLength 32"),
        ({"identity": {"algorithms": ["none"], "secret": SECRET}}, "identity.algorithms.0: invalid value 'none'"),
        ({"identity": {}}, "identity.secret: required for HS* algorithms"),
        ({"identity": {"algorithms": ["RS256"]}}, "identity.public_key_file: required for RS*/ES* algorithms"),
        ({"connectors": {"sap": {"url": "x"}}}, "connectors.sap: 'kind' is a required property"),
        ({"connectors": {"my.sap": {"kind": "sap"}}}, "connectors: invalid value"),
        ({"policy": {"watch": "yes"}}, "policy.watch: invalid value 'yes'"),
        ([], "(top level): expected a mapping of sections, got list"),
    ],
)
def test_errors_name_key_and_value(raw, message: str) -> None:  # type: ignore[no-untyped-def]
    if isinstance(raw, dict) and "identity" not in raw:
        raw["identity"] = {"secret": SECRET}
    with pytest.raises(ConfigError) as raised:
        _parse(raw)
    assert message in str(raised.value)


def test_unknown_connector_kind_is_named() -> None:
    config = _parse({"identity": {"secret": SECRET}, "connectors": {"crm": {"kind": "salesforce"}}})
    with pytest.raises(ConfigError, match=r"connectors\.crm\.kind: unknown connector kind 'salesforce'"):
        create_connector(config.connectors[0])


def test_environment_overrides_the_file() -> None:
    config = _parse(
        {"identity": {"secret": SECRET}, "server": {"port": 8080}},
        {"GATEWAY_SERVER__PORT": "9000", "GATEWAY_POLICY__WATCH": "false", "GATEWAY_IDENTITY__ISSUER": "corp-idp"},
    )
    assert (config.server.port, config.policy.watch, config.identity.issuer) == (9000, False, "corp-idp")
    with pytest.raises(ConfigError, match=r"server\.port: invalid value 'many'"):
        _parse({"identity": {"secret": SECRET}}, {"GATEWAY_SERVER__PORT": "many"})


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
