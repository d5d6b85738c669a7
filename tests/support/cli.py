"""Running the `gateway` command against a started gateway, as an operator would."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from click.testing import CliRunner, Result

from gateway.cli import main
from tests.support.gateway import SECRET, RunningGateway


def config_file(gw: RunningGateway) -> Path:
    """A config file naming the gateway's audit database (what `--config` reads)."""
    path = gw.config.base_dir / "gateway.yaml"
    audit = {"database": gw.config.audit.database}
    if gw.config.audit.signing_key_file:
        audit["signing_key_file"] = gw.config.audit.signing_key_file
    path.write_text(json.dumps({"identity": {"secret": SECRET}, "audit": audit}))
    return path


async def run_cli(*args: str, env: dict[str, str] | None = None, ok: bool = True) -> Result:
    # The CLI is synchronous: it runs in a thread so the server keeps serving.
    result = await asyncio.to_thread(CliRunner().invoke, main, list(args), env=env)
    if ok:
        assert result.exit_code == 0, result.output
    return result
