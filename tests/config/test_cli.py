"""`gateway config check` and `gateway config schema`, run as a user would."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from gateway.cli import main

REPO = Path(__file__).resolve().parents[2]
SECRET = "cli-test-secret-0123456789-0123456789-xyz"

GOOD = """\
identity:
  secret: ${env:TEST_IDENTITY_SECRET}
policy: {directory: %s}
connectors:
  sap:
    kind: sap
    url: http://127.0.0.1:1/sap
    auth:
      kind: basic
      username: u
      password: ${file:sap.password}
"""


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env={"GATEWAY_CONFIG": None, **(env or {})})
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    (tmp_path / "sap.password").write_text("sap-secret\n")
    path = tmp_path / "gateway.yaml"
    path.write_text(GOOD % (REPO / "policies"))
    return path


def test_check_accepts_a_good_file(config_file: Path) -> None:
    code, out, err = _run("config", "check", str(config_file), env={"TEST_IDENTITY_SECRET": SECRET})
    assert code == 0
    assert out == f"{config_file}: OK (1 connectors)\n"
    # Good, but the password would cross the network in clear: said, not refused.
    cleartext = "the technical user and password travel unencrypted: url is http:// (use https://)"
    assert err == f"{config_file}: warning: connectors.sap: {cleartext}\n"


def test_check_is_quiet_about_a_backend_reached_over_tls(config_file: Path) -> None:
    config_file.write_text(config_file.read_text().replace("http://", "https://"))
    code, _, err = _run("config", "check", str(config_file), env={"TEST_IDENTITY_SECRET": SECRET})
    assert (code, err) == (0, "")


def test_check_lists_every_problem_and_exits_1(config_file: Path) -> None:
    config_file.write_text(config_file.read_text().replace("password:", "pasword:") + "server: {port: eighty}\n")
    code, out, err = _run("config", "check", str(config_file), env={"TEST_IDENTITY_SECRET": SECRET})
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{config_file}: server.port: invalid value 'eighty': expected a valid integer",
        f"{config_file}: connectors.sap.auth.password: required",
        f"{config_file}: connectors.sap.auth.pasword: unknown key (did you mean 'password'?)",
    ]
    # The value of a secret is never printed, even when it is the problem.
    assert "sap-secret" not in err


def test_check_names_a_missing_reference(config_file: Path) -> None:
    code, _, err = _run("config", "check", str(config_file))
    assert code == 1
    assert "identity.secret: environment variable TEST_IDENTITY_SECRET is not set" in err


def test_check_reads_gateway_config_from_the_environment(config_file: Path) -> None:
    code, out, _ = _run("config", "check", env={"GATEWAY_CONFIG": str(config_file), "TEST_IDENTITY_SECRET": SECRET})
    assert code == 0 and "OK" in out


def test_check_builds_the_connectors(tmp_path: Path) -> None:
    path = tmp_path / "gateway.yaml"
    path.write_text(
        "allow_inline_secrets: true\nidentity: {secret: " + SECRET + "}\n"
        "connectors:\n  helpdesk: {kind: openapi, spec: missing.yaml}\n"
    )
    code, _, err = _run("config", "check", str(path))
    assert code == 1 and "connectors.helpdesk.spec: cannot read missing.yaml" in err


def test_schema_describes_the_file_for_editors() -> None:
    code, out, _ = _run("config", "schema")
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    example = yaml.safe_load((REPO / "gateway.example.yaml").read_text())
    assert list(validator.iter_errors(example)) == []
    # Every key has a description an editor can show on hover.
    server = schema["$defs"]["ServerSettings"]["properties"]
    assert all(field.get("description") for field in server.values())
    # A misspelled key, a wrong type and an unknown kind are flagged while typing.
    example["connectors"]["sap"]["pasword"] = "x"
    example["connectors"]["oracle"]["retries"] = "two"
    example["connectors"]["crm"] = {"kind": "salesforce"}
    assert len(list(validator.iter_errors(example))) >= 1
    for broken in ({"sap": {**example["connectors"]["sap"]}}, {"oracle": example["connectors"]["oracle"]}):
        assert not validator.is_valid({"connectors": broken})
    assert not validator.is_valid({"connectors": {"crm": {"kind": "salesforce"}}})
    assert not validator.is_valid({"server": {"prot": 1}})
