"""`gateway audit ...`: keys, verification, proofs and queries of the audit log."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import click
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.chain import Sealed
from gateway.audit.checkpoint import (
    Checkpoint,
    KeyFileError,
    generate_key,
    key_id,
    load_private_key,
    load_public_key,
    private_pem,
    public_pem,
)
from gateway.audit.export import ExportError, cef_line, jsonl_line, read_jsonl
from gateway.audit.postgres_store import PostgresAuditStore
from gateway.audit.proof import ProofError, check_proof, prove
from gateway.audit.query import CallQuery, CallSummary, parse_time, record_json
from gateway.audit.search import AuditQueries
from gateway.audit.sqlite_store import SqliteAuditStore, iter_log, missing_wal, schema_drift
from gateway.audit.store import AuditStore, StoreError
from gateway.audit.verify import Verifier, VerifyReport
from gateway.cli.locate import Location, audit_database, audit_settings, config_option
from gateway.cli.output import InertError, inert, json_text
from gateway.models import AuditRecord

T = TypeVar("T")

_db_option = click.option("--db", help="Audit database: a SQLite file or a postgresql:// URL (overrides the config).")
_json_option = click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")


def _public_key(config_path: Path | None, public_key: Path | None) -> Ed25519PublicKey | None:
    try:
        if public_key is not None:
            return load_public_key(public_key)
        found = audit_settings(config_path)
        key_file = found[0].signing_key_file if found is not None else None
        if found is not None and key_file:
            path = Path(key_file)
            return load_private_key(path if path.is_absolute() else found[1] / path).public_key()
    except KeyFileError as exc:
        raise InertError(str(exc)) from None
    return None


def _run(location: Location, work: Callable[[AuditQueries], Awaitable[T]]) -> T:
    async def main() -> T:
        store: AuditStore = (
            SqliteAuditStore(location, create=False) if isinstance(location, Path) else PostgresAuditStore(location)
        )
        await store.open()
        try:
            return await work(AuditQueries(store))
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    # ValueError here is stored data that does not decode (MalformedRecord, a garbled
    # checkpoint): the log was tampered with, and `verify` will say where.
    except (StoreError, ProofError, ValueError) as exc:
        raise InertError(str(exc)) from None


def _each_item(location: Location, sink: Callable[[Sealed | Checkpoint], None]) -> None:
    """Feed the whole log to `sink`: streamed straight from a SQLite file, paged from PostgreSQL."""
    if isinstance(location, Path):
        try:
            for item in iter_log(location):
                sink(item)
        except (StoreError, ValueError) as exc:
            raise InertError(str(exc)) from None
        return

    async def pump(queries: AuditQueries) -> None:
        async for item in queries.items():
            sink(item)

    _run(location, pump)


@click.group("audit")
def audit() -> None:
    """Verify, prove, search and export the hash-chained audit log."""


@audit.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="Private key file to write; the public key goes to OUT.pub.",
)
@click.option("--force", is_flag=True, help="Overwrite existing files.")
def keygen(out: Path, force: bool) -> None:
    """Make an Ed25519 key pair for signing checkpoints (audit.signing_key_file)."""
    public = out.with_name(out.name + ".pub")
    for path in (out, public):
        if path.exists() and not force:
            raise click.ClickException(f"{path} exists; pass --force to overwrite it")
    key = generate_key()
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(private_pem(key))
        public.write_bytes(public_pem(key.public_key()))
    except OSError as exc:
        raise click.ClickException(f"cannot write {exc.filename}: {exc.strerror}") from None
    click.echo(f"private key: {out} (keep it secret; set audit.signing_key_file to it)")
    click.echo(f"public key:  {public} (give it to auditors: gateway audit verify --public-key {public})")
    click.echo(f"key id:      {key_id(key.public_key())}")


@audit.command("verify")
@config_option
@_db_option
@click.option("--public-key", type=click.Path(dir_okay=False, path_type=Path), help="Trusted Ed25519 public key.")
@click.option("--file", "export_file", type=click.Path(dir_okay=False, path_type=Path), help="Verify a jsonl export.")
@click.option("--proof", type=click.Path(dir_okay=False, path_type=Path), help="Check an inclusion proof alone.")
@click.option(
    "--checkpoint",
    "anchor",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A checkpoint kept outside the log (`audit checkpoint` output): catches a log cut after it.",
)
def verify_command(
    config_path: Path | None,
    db: str | None,
    public_key: Path | None,
    export_file: Path | None,
    proof: Path | None,
    anchor: Path | None,
) -> None:
    """Recompute every hash, link, Merkle root and signature; exit 1 naming the first bad record."""
    key = _public_key(config_path, public_key)
    if proof is not None:
        _check_proof_file(proof, key)
        return
    drift: list[str] = []
    copy_warning: str | None = None
    try:
        verifier = Verifier(key, [Checkpoint.decode(anchor.read_bytes())] if anchor is not None else [])
        if export_file is not None:
            for item in read_jsonl(export_file):
                verifier.feed(item)
        else:
            location = audit_database(config_path, db)
            if isinstance(location, Path):
                copy_warning = missing_wal(location)
                drift = schema_drift(location)
            _each_item(location, verifier.feed)
    except OSError as exc:
        raise click.ClickException(f"cannot read {exc.filename}: {exc.strerror}") from None
    except (StoreError, ExportError, ValueError) as exc:
        raise InertError(f"{exc}; {copy_warning}" if copy_warning else str(exc)) from None
    report = verifier.report()
    _print_report(report, drift)
    if copy_warning:
        click.echo(f"  warning: {inert(copy_warning)}")
    if not report.ok or drift:
        sys.exit(1)


def _check_proof_file(path: Path, key: Ed25519PublicKey | None) -> None:
    if key is None:
        raise click.UsageError("checking a proof needs --public-key")
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        record = check_proof(document, key)
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        click.echo(f"FAILED: {inert(exc)}")
        sys.exit(1)
    click.echo(
        f"OK: record {record.seq} ({inert(record.kind)}) is in the log signed by checkpoint {document['tree_size']}"
    )


def _print_report(report: VerifyReport, drift: list[str]) -> None:
    status = "OK" if report.ok and not drift else "FAILED"
    click.echo(
        f"{status}: {report.records} records, {report.checkpoints} checkpoints, signed up to {report.signed_size}"
    )
    if report.first_bad is not None:
        click.echo(f"first bad record: {inert(report.first_bad)}")
    for problem in report.problems:
        click.echo(f"  problem: {inert(problem)}")
    for problem in drift:
        click.echo(f"  problem: store schema: {problem} (the append-only guard was tampered with)")
    for warning in report.warnings:
        click.echo(f"  warning: {inert(warning)}")


@audit.command("checkpoint")
@config_option
@_db_option
def checkpoint_command(config_path: Path | None, db: str | None) -> None:
    """Print the latest signed checkpoint; keep it off the host to catch a log cut short later."""
    checkpoints = _run(audit_database(config_path, db), lambda q: q.store.checkpoints())
    if not checkpoints:
        raise click.ClickException("the log has no signed checkpoint yet (is audit.signing_key_file set?)")
    click.echo(json_text(checkpoints[-1].to_json(), indent=2))


@audit.command("prove")
@click.argument("seq", type=click.IntRange(min=1))
@config_option
@_db_option
def prove_command(seq: int, config_path: Path | None, db: str | None) -> None:
    """Print an inclusion proof for record SEQ (check it with `verify --proof FILE --public-key KEY`)."""
    proof = _run(audit_database(config_path, db), lambda q: prove(q.store, seq))
    click.echo(json_text(proof, indent=2))


@audit.command()
@click.option("-n", "--lines", "count", type=click.IntRange(min=1, max=100_000), default=20, show_default=True)
@config_option
@_db_option
@_json_option
def tail(count: int, config_path: Path | None, db: str | None, as_json: bool) -> None:
    """The newest records."""
    records = _run(audit_database(config_path, db), lambda q: q.store.latest(count))
    _echo_records(records, as_json)


def _timestamp(_ctx: click.Context, param: click.Parameter, value: str | None) -> float | None:
    try:
        return None if value is None else parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@audit.command()
@click.option("--agent", help="Principal subject.")
@click.option("--connector")
@click.option("--tool")
@click.option("--outcome", help="allow, deny, approve, ok, error or rejected.")
@click.option("--approver", help="Someone who voted on the call's approval.")
@click.option("--since", callback=_timestamp, help="Received at or after (ISO 8601, UTC if no zone; or unix seconds).")
@click.option("--until", callback=_timestamp, help="Received before.")
@click.option("--trace-id")
@click.option("--call-id", help="The call id an agent quotes (X-Call-Id, 'call id ...' in errors).")
@click.option("--limit", type=click.IntRange(min=1, max=100_000), default=100, show_default=True)
@click.option("--newest-first", is_flag=True, help="Newest calls first (with --limit: the latest N).")
@config_option
@_db_option
@_json_option
def search(
    agent: str | None,
    connector: str | None,
    tool: str | None,
    outcome: str | None,
    approver: str | None,
    since: float | None,
    until: float | None,
    trace_id: str | None,
    call_id: str | None,
    limit: int,
    newest_first: bool,
    config_path: Path | None,
    db: str | None,
    as_json: bool,
) -> None:
    """Calls matching every filter given, one line each, oldest first (or --newest-first)."""
    query = CallQuery(
        agent,
        connector,
        tool,
        outcome,
        approver,
        since,
        until,
        trace_id,
        limit=limit,
        call_id=call_id,
        newest_first=newest_first,
    )
    calls = _run(audit_database(config_path, db), lambda q: q.calls(query))
    for call in calls:
        click.echo(json_text(call.to_json()) if as_json else _call_line(call))


@audit.command()
@click.argument("ident", metavar="ID")
@config_option
@_db_option
@_json_option
def show(ident: str, config_path: Path | None, db: str | None, as_json: bool) -> None:
    """The whole story of a call, from receipt to outcome: ID is its call id, trace id or
    approval id; a held call comes with the votes and the call that executed it."""
    calls = _run(audit_database(config_path, db), lambda q: q.story(ident))
    if not calls:
        raise InertError(f"no call with call id, trace id or approval id {ident}")
    for call in calls:
        if as_json:
            click.echo(json_text(call.to_json(with_records=True)))
            continue
        click.echo(_call_line(call))
        _echo_records(call.records, as_json=False)


@audit.command()
@click.option("--format", "fmt", type=click.Choice(["jsonl", "cef"]), default="jsonl", show_default=True)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="File to write (default: stdout).")
@config_option
@_db_option
def export(fmt: str, out: Path | None, config_path: Path | None, db: str | None) -> None:
    """The whole log; jsonl includes the checkpoints and verifies with `verify --file`."""
    location = audit_database(config_path, db)
    line_of = jsonl_line if fmt == "jsonl" else cef_line
    try:
        with click.open_file(str(out) if out else "-", "w", encoding="utf-8") as sink:

            def write(item: Sealed | Checkpoint) -> None:
                line = line_of(item)
                if line is not None:
                    sink.write(line + "\n")

            _each_item(location, write)
    except OSError as exc:
        raise click.ClickException(f"cannot write {out}: {exc.strerror}") from None


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _call_line(call: CallSummary) -> str:
    # Every field but the time was chosen by a caller of the gateway: none may act on the terminal.
    approvers = f" approved-by={inert(','.join(call.approvers))}" if call.approvers else ""
    approval = f"  approval={inert(call.approval_id)}" if call.approval_id else ""
    return (
        f"{_iso(call.ts)}  {inert(call.agent or '-')}  {inert(call.connector or '-')}.{inert(call.tool or '-')}  "
        f"effect={inert(call.effect or '-')} status={inert(call.status or '-')}{approvers}  "
        f"trace={inert(call.trace_id or '-')}  call={inert(call.call_id)}{approval}"
    )


def _echo_records(records: Iterable[AuditRecord], as_json: bool) -> None:
    for record in records:
        if as_json:
            click.echo(json_text(record_json(record)))
        else:
            data = json_text(record.data, sort_keys=True)
            click.echo(
                f"#{record.seq}  {_iso(record.ts)}  {inert(record.kind)}  call={inert(record.call_id or '-')}  {data}"
            )
