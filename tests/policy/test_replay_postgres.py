"""`gateway policy replay` on a PostgreSQL audit log, and no credential in what it prints (#18):
the URL used to be taken for a file path, mangled and printed with its password."""

from __future__ import annotations

import asyncio
import getpass

from click.testing import CliRunner

from gateway.cli.policy import policy
from gateway.policy import PolicyEngine
from tests.policy.test_replay import record_calls
from tests.support.policy_dirs import SHIPPED
from tests.support.stores import postgres_backend

PASSWORD = "s3cret-pw"


def _with_password(url: str) -> str:
    # The test database trusts loopback: the password is accepted and ignored.
    return url.replace("postgresql://", f"postgresql://{getpass.getuser()}:{PASSWORD}@", 1)


async def _replay(*args: str) -> tuple[int, str]:
    result = await asyncio.to_thread(CliRunner().invoke, policy, ["replay", *args])
    return result.exit_code, result.output


async def test_replay_reads_a_postgres_log() -> None:
    async with postgres_backend() as backend:
        await record_calls(backend.database)
        code, output = await _replay("--audit", _with_password(backend.database), "--policy", str(SHIPPED))
    assert code == 0, output
    assert output.strip().endswith(
        "5 calls replayed under policy " + PolicyEngine.load(SHIPPED).version[:12] + ": 0 would change, "
        "0 same outcome by another rule, 1 without a recorded decision, 1 with redacted arguments"
    )


async def test_an_unreachable_postgres_log_is_named_without_its_password() -> None:
    url = f"postgresql://auditor:{PASSWORD}@127.0.0.1:1/audit?sslmode=disable&password={PASSWORD}"
    code, output = await _replay("--audit", url, "--policy", str(SHIPPED))
    assert code == 2, output
    assert "cannot read the audit log: cannot open audit database postgresql://auditor:***@127.0.0.1:1/audit" in output
    assert PASSWORD not in output
