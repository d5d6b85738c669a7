"""The README's shell examples, run as printed against a started gateway (#18).

Every command in a ```sh block runs in a shell, in a directory laid out like the demo's
(`gateway.example.yaml`, `policies/`, `var/keys/audit.pem`), against the gateway on the
example config with its SAP and echo stubs on ephemeral ports. Only placeholders are
filled in: the printed token, the address, an `ID` the reader would copy from an earlier
answer, the record number of `audit prove`. Only the project's own command, `curl` and
`export` run: `make` starts the demo on its fixed ports, `open` a browser, and tools
such as `kubectl` or `docker` need what a laptop has, not the suite.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from connectors.mcp import stub as echo_stub
from connectors.sap import stub as sap_stub
from gateway.app import create_app
from gateway.audit import read_records
from gateway.audit.checkpoint import Checkpoint
from gateway.audit.sqlite_store import read_checkpoint_rows
from gateway.config import load_config
from gateway.demo import DEMO_ROLES
from gateway.identity import TokenVerifier
from gateway.serving import running
from tests.support.gateway import REPO

SAP_SERVICE = "/sap/opu/odata/sap/API_PURCHASEORDER_SRV"
RUN = (".venv/bin/gateway ", "curl ")
#: Commands whose documented outcome is not exit 0.
EXPECTED_EXIT = {"sap.create_purchase_order": 3}  # held by policy: pending (the README says so)


def readme_commands() -> list[str]:
    """Each command of the README's ```sh blocks, continuation lines joined."""
    commands: list[str] = []
    for block in re.findall(r"```sh\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S):
        commands += [c.strip() for c in block.replace("\\\n", " ").splitlines() if c.strip()]
    return commands


@dataclass
class Reader:
    """What a reader following the README has: a shell environment and what they copied."""

    cwd: Path
    base_url: str
    env: dict[str, str] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)

    def fill(self, command: str) -> str:
        gateway = f"{shlex.quote(sys.executable)} -m gateway.cli"
        command = command.replace(".venv/bin/gateway", gateway)
        command = command.replace("http://127.0.0.1:8080", self.base_url)
        command = command.replace("<printed token>", self.env.get("DEMO_TOKEN", ""))
        for verb in ("approve", "show"):
            if verb in self.ids:
                command = re.sub(rf"\b{verb} ID\b", f"{verb} {self.ids[verb]}", command)
        if "prove" in self.ids:
            command = re.sub(r"\bprove \d+\b", f"prove {self.ids['prove']}", command)
        return command

    def export(self, command: str) -> None:
        for assignment in shlex.split(self.fill(command))[1:]:
            name, _, value = assignment.partition("=")
            self.env[name] = value

    def run(self, command: str) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, **self.env, "NO_COLOR": "1"}
        return subprocess.run(
            ["bash", "-c", self.fill(command)],
            cwd=self.cwd,
            env=environment,
            capture_output=True,
            text=True,
            timeout=60,
        )


def _demo_directory(tmp_path: Path, sap_url: str, echo_url: str) -> Path:
    config = yaml.safe_load((REPO / "gateway.example.yaml").read_text(encoding="utf-8"))
    config["server"]["port"] = 0
    config["policy"]["watch"] = False
    config["approvals"]["max_hold_seconds"] = 0.2  # a held call answers "pending" at once
    config["audit"]["checkpoint_every_records"] = 5
    connectors = config["connectors"]
    connectors["sap"]["url"] = sap_url + SAP_SERVICE
    connectors["echo"]["url"] = f"{echo_url}/mcp"
    config["connectors"] = {name: connectors[name] for name in ("sap", "echo")}
    (tmp_path / "gateway.example.yaml").write_text(yaml.safe_dump(config), encoding="utf-8")
    shutil.copytree(REPO / "policies", tmp_path / "policies")
    key = tmp_path / "var" / "keys" / "audit.pem"
    made = subprocess.run(
        [sys.executable, "-m", "gateway.cli", "audit", "keygen", "--out", str(key)], capture_output=True, text=True
    )
    assert made.returncode == 0, made.stderr
    return tmp_path / "gateway.example.yaml"


@contextlib.asynccontextmanager
async def demo_gateway(tmp_path: Path) -> AsyncIterator[Reader]:
    async with running(sap_stub.create_app()) as sap_url, running(echo_stub.create_app()) as echo_url:
        config = load_config(_demo_directory(tmp_path, sap_url, echo_url), environ={})
        async with running(create_app(config)) as url:
            token = TokenVerifier(config.identity, config.base_dir).mint("demo-agent", DEMO_ROLES)
            yield Reader(cwd=tmp_path, base_url=url, env={"DEMO_TOKEN": token})


def _learn(reader: Reader, command: str, stdout: str) -> None:
    """Copy what a reader would copy from an answer into the next commands."""
    if " token " in command and "--roles finance-approver" in command:
        reader.env["APPROVER_TOKEN"] = stdout.strip()
    if "approvals list" in command and (listed := re.search(r"\bapr_\w+", stdout)):
        reader.ids["approve"] = listed.group()
    database = reader.cwd / "var" / "audit.db"
    if database.exists():
        records = list(read_records(database))
        held = [r for r in records if r.kind == "approval.requested"]
        if held:
            reader.ids["show"] = held[0].data["approval_id"]
        checkpoints = [Checkpoint.decode(body) for body in read_checkpoint_rows(database)]
        if checkpoints:  # a proof needs a signed checkpoint covering the record
            reader.ids["prove"] = str(checkpoints[-1].size)


async def test_every_readme_example_runs_as_documented(tmp_path: Path) -> None:
    commands = readme_commands()
    assert any("gateway audit search" in c for c in commands), "the README lost its examples"
    ran = 0
    async with demo_gateway(tmp_path) as reader:
        for command in commands:
            if command.startswith("export "):
                reader.export(command)
                continue
            if not command.startswith(RUN):
                continue
            done = await asyncio.to_thread(reader.run, command)
            expected = next((code for word, code in EXPECTED_EXIT.items() if word in command), 0)
            assert done.returncode == expected, f"{command}\n-> exit {done.returncode}\n{done.stdout}{done.stderr}"
            _learn(reader, command, done.stdout)
            ran += 1
    assert ran >= 15, f"only {ran} README commands ran"
