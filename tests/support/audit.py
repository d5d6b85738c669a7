"""Shared builders for the audit tests: a real signed log on disk, and SQL tampering."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from click.testing import CliRunner, Result

from gateway.audit import AuditLog
from gateway.audit.checkpoint import generate_key, private_pem, public_pem
from gateway.audit.merkle import Frontier
from gateway.cli.audit import audit
from gateway.config import AuditSettings


def make_keys(directory: Path, name: str = "audit-key.pem") -> tuple[Path, Path]:
    key = generate_key()
    private, public = directory / name, directory / f"{name}.pub"
    private.write_bytes(private_pem(key))
    public.write_bytes(public_pem(key.public_key()))
    return private, public


def settings(directory: Path, key: Path | None, every: int = 5) -> AuditSettings:
    return AuditSettings(
        database=str(directory / "audit.db"),
        signing_key_file=str(key) if key else None,
        checkpoint_every_records=every,
        checkpoint_every_seconds=3600,
    )


async def write_calls(log: AuditLog, calls: int) -> None:
    """Four records per call, as the pipeline writes them."""
    for i in range(calls):
        call_id = f"call-{i}"
        agent = "agent-x" if i % 2 == 0 else "agent-y"
        await log.append(
            "call.received",
            {
                "principal": {"subject": agent, "roles": ["clerk"], "tenant": "acme", "issuer": "idp"},
                "connector": "sap" if i % 3 else "oracle",
                "tool": "search_orders",
                "arguments": {"customer": f"C-{i}"},
                "arguments_digest": "0" * 64,
                "trace_id": f"{i:032x}",
                "traceparent": f"00-{i:032x}-{i:016x}-01",
                "front_door": "mcp",
                "client": "127.0.0.1",
            },
            call_id=call_id,
        )
        effect = "deny" if i % 5 == 4 else "allow"
        await log.append("call.decided", {"effect": effect, "rule": "p.csv:3", "reason": "r"}, call_id=call_id)
        if effect == "allow":
            await log.append("call.forwarded", {"connector": "sap", "tool": "search_orders"}, call_id=call_id)
            await log.append("call.completed", {"status": "ok", "latency_ms": 1.5}, call_id=call_id)
        else:
            await log.append("call.rejected", {"stage": "policy", "reason": "denied"}, call_id=call_id)


def build_log(directory: Path, key: Path | None, calls: int = 5, every: int = 5) -> Path:
    async def build() -> None:
        log = await AuditLog.open(settings(directory, key, every))
        try:
            await write_calls(log, calls)
        finally:
            await log.close()

    asyncio.run(build())
    return directory / "audit.db"


def tamper(db: Path, *statements: str, keep_guards_dropped: bool = False) -> None:
    """Go behind the gateway's back: drop the guards, run plain SQL, put the guards back."""
    with sqlite3.connect(db) as conn:
        triggers = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'").fetchall()
        for name, _ in triggers:
            conn.execute(f"DROP TRIGGER {name}")
        for statement in statements:
            conn.execute(statement)
        if not keep_guards_dropped:
            for _, sql in triggers:
                conn.execute(sql)
    conn.close()


def cli(*args: str | Path) -> Result:
    return CliRunner().invoke(audit, [str(a) for a in args], catch_exceptions=False)


def root_of(record_hashes: list[bytes]) -> bytes:
    frontier = Frontier()
    for h in record_hashes:
        frontier.append(h)
    return frontier.root()
