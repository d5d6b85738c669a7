"""No command prints a credential (#18): a wrong secret in the config, a database URL with
a password that cannot be reached, each is named without its secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from tests.support.gateway import SECRET

PASSWORD = "hunter2-pw"
UNREACHABLE = f"postgresql://gateway:{PASSWORD}@127.0.0.1:1/audit?connect_timeout=2"


def _config(tmp_path: Path, policy_dir: Path, **sections: object) -> str:
    path = tmp_path / "gateway.yaml"
    policy = {"directory": str(policy_dir), "watch": False}
    approvals = {"approver_roles": ["approver", "finance-approver", "hr-approver", "supervisor", "support-supervisor"]}
    raw = {
        "allow_inline_secrets": True,  # the values under test are written into the file
        "server": {"port": 0},
        "identity": {"secret": SECRET},
        "policy": policy,
        "approvals": approvals,
        **sections,
    }
    path.write_text(json.dumps(raw))
    return str(path)


@pytest.mark.parametrize(
    ("sections", "says"),
    [
        ({"identity": {"secret": PASSWORD}}, "identity.secret: invalid value (not shown: a secret)"),
        (
            {
                "connectors": {
                    "sap": {
                        "kind": "sap",
                        "url": "http://127.0.0.1:1/sap",
                        "auth": {"kind": "basic", "username": "u", "password": 7},
                    }
                }
            },
            "connectors.sap.auth.password: invalid value (not shown: a secret)",
        ),
        ({"audit": {"database": UNREACHABLE}}, "postgresql://gateway:***@127.0.0.1:1/audit"),
    ],
    ids=["short-secret", "connector-password", "database-url"],
)
def test_serve_names_the_problem_not_the_secret(
    tmp_path: Path, policy_dir: Path, sections: dict[str, object], says: str
) -> None:
    result = CliRunner().invoke(main, ["serve", "--config", _config(tmp_path, policy_dir, **sections)])
    assert result.exit_code == 1, result.output
    assert says in result.output
    assert PASSWORD not in result.output


@pytest.mark.parametrize("command", [("audit", "search"), ("audit", "verify"), ("audit", "tail")])
def test_audit_commands_mask_the_database_password(command: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*command, "--db", UNREACHABLE])
    assert result.exit_code == 1, result.output
    assert "postgresql://gateway:***@127.0.0.1:1/audit" in result.output
    assert PASSWORD not in result.output
