"""The one list of audit record kinds (`gateway.audit.kinds.RecordKind`) is complete, and
docs/audit.md shows it as generated.

The source scan reads every module of `gateway/` and `connectors/` (its AST, so comments
and docstrings do not count) for the kinds handed to the audit log, whether as a literal
(`audit.append("call.received", ...)`, `"a" if ok else "b"`) or as `RecordKind.NAME`, and
for the kinds code compares a record's `kind` with. A kind built at run time (an f-string)
is refused: nothing could check it.
"""

from __future__ import annotations

import ast
import hashlib
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import rfc8785

from gateway.audit import AuditLog, read_records
from gateway.audit.kinds import RecordKind, markdown
from gateway.config import AuditSettings

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("gateway", "connectors")
KINDS_MODULE = ROOT / "gateway" / "audit" / "kinds.py"
#: Methods whose first argument is a record kind whatever they are called on: the audit
#: log's wrappers in the approval service, the suspensions, the pins and the notifiers.
WRAPPERS = frozenset({"_append", "_record", "_audit"})
#: Methods that take a kind first when called on something named for the audit log.
APPENDS = frozenset({"append", "submit", "record"})


@dataclass(frozen=True)
class Use:
    where: str
    kind: str
    #: True for `RecordKind.NAME` (`kind` is NAME), False for a string literal.
    by_member: bool = False


def _is_audit(receiver: ast.expr) -> bool:
    text = ast.unparse(receiver).lower()
    return "audit" in text or text.endswith("records")


def _written_kind(call: ast.Call) -> ast.expr | None:
    """The argument holding the kind, when `call` hands a record to the audit log."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if call.args and (
        name in WRAPPERS or (name in APPENDS and isinstance(func, ast.Attribute) and _is_audit(func.value))
    ):
        return call.args[0]
    # A deferred append: push_async_callback(audit.append, "gateway.stopped", {...}).
    for position, argument in enumerate(call.args[:-1]):
        if isinstance(argument, ast.Attribute) and argument.attr in APPENDS and _is_audit(argument.value):
            return call.args[position + 1]
    return None


def _kinds_in(expr: ast.expr, where: str) -> Iterator[Use]:
    if isinstance(expr, ast.Constant) and isinstance(expr.value, str):
        yield Use(where, expr.value)
    elif isinstance(expr, ast.IfExp):
        yield from _kinds_in(expr.body, where)
        yield from _kinds_in(expr.orelse, where)
    elif isinstance(expr, ast.JoinedStr):
        yield Use(where, f"<built at run time: {ast.unparse(expr)}>")
    elif isinstance(expr, ast.Attribute) and ast.unparse(expr.value).endswith("RecordKind"):
        yield Use(where, expr.attr, by_member=True)
    elif isinstance(expr, ast.Tuple | ast.List | ast.Set):
        for element in expr.elts:
            yield from _kinds_in(element, where)


def scan(source: str, filename: str) -> Iterator[Use]:
    """The kinds `source` writes to the audit log or compares a record's kind with."""
    for node in ast.walk(ast.parse(source, filename)):
        where = f"{filename}:{getattr(node, 'lineno', 0)}"
        if isinstance(node, ast.Call) and (argument := _written_kind(node)) is not None:
            yield from _kinds_in(argument, where)
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Attribute) and node.left.attr == "kind":
            # Other things have a `kind` too (an error's "limited"): only dotted names are records'.
            for compared in node.comparators:
                yield from (use for use in _kinds_in(compared, where) if use.by_member or "." in use.kind)


def _members_used(source: str) -> set[str]:
    """Every `RecordKind.NAME` in `source`, wherever it appears."""
    return {
        node.attr
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute) and ast.unparse(node.value).endswith("RecordKind")
    }


def _sources() -> Iterator[tuple[Path, str]]:
    for top in SOURCES:
        for path in sorted((ROOT / top).rglob("*.py")):
            if path != KINDS_MODULE:
                yield path, path.read_text(encoding="utf-8")


def _unknown(use: Use) -> bool:
    if use.by_member:
        return use.kind not in RecordKind.__members__
    return use.kind not in set(RecordKind)


def test_every_kind_the_code_writes_or_reads_is_declared() -> None:
    uses = [use for path, text in _sources() for use in scan(text, str(path.relative_to(ROOT)))]
    unknown = [f"{use.where}: {use.kind!r}" for use in uses if _unknown(use)]
    assert not unknown, "audit record kinds missing from gateway/audit/kinds.py:\n" + "\n".join(unknown)
    # The scan sees the pipeline's records, literal or not: it is not passing by finding nothing.
    found = {use.kind for use in uses if not use.by_member}
    assert {"call.received", "call.decided", "call.completed"} <= found | {
        RecordKind[u.kind].value for u in uses if u.by_member
    }


def test_every_declared_kind_is_written_somewhere() -> None:
    """No dead entries: each member is named in the code, as a literal or a member."""
    named: set[str] = set()
    for path, text in _sources():
        named |= {RecordKind[name].value for name in _members_used(text) if name in RecordKind.__members__}
        named |= {use.kind for use in scan(text, str(path)) if not use.by_member}
    assert not set(RecordKind) - named, f"declared but never written: {sorted(set(RecordKind) - named)}"


def test_the_scan_refuses_an_undeclared_kind() -> None:
    source = """
async def handler(self, ok):
    await self.audit.append("call.recieved", {})
    pending = gateway.audit.submit("call.received" if ok else "policy.relaoded", {})
    await self._append(f"notification.{ok}", approval, {})
    await records.record(RecordKind.AUTH_FAILD, {})
    stack.push_async_callback(self.audit.append, "gateway.stoped", {})
    if record.kind == "approval.vote":
        pass
    if error.kind == "limited":  # an error's kind, not a record's
        pass
    lines.append("not.a_kind")  # a list, not the audit log
"""
    unknown = sorted(use.kind for use in scan(source, "example.py") if _unknown(use))
    assert unknown == [
        "<built at run time: f'notification.{ok}'>",
        "AUTH_FAILD",
        "approval.vote",
        "call.recieved",
        "gateway.stoped",
        "policy.relaoded",
    ]


def test_docs_list_every_kind_with_its_keys() -> None:
    docs = (ROOT / "docs" / "audit.md").read_text(encoding="utf-8")
    table = markdown()
    assert table in docs, "docs/audit.md is stale: paste the output of `python -m gateway.audit.kinds --markdown`"
    for kind in RecordKind:
        row = next(line for line in table.splitlines() if line.startswith(f"| `{kind}` |"))
        assert all(f"`{key}`" in row for key in kind.described.keys)


def test_the_table_is_printed_by_the_module() -> None:
    printed = subprocess.run(
        [sys.executable, "-m", "gateway.audit.kinds", "--markdown"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    assert printed.stdout == markdown()


async def test_a_member_is_stored_as_its_plain_value(tmp_path: Path) -> None:
    """The chained bytes do not depend on whether a writer named the kind by member or literal."""
    log = await AuditLog.open(AuditSettings(database=str(tmp_path / "audit.db")))
    try:
        record = await log.append(RecordKind.GATEWAY_STARTED, {"version": "1", "config_digest": "ab"})
    finally:
        await log.close()
    (stored,) = read_records(tmp_path / "audit.db")
    assert type(stored.kind) is str and stored.kind == "gateway.started"
    assert type(record.kind) is str and stored.hash == record.hash
    expected = {k: getattr(stored, k) for k in ("call_id", "data", "kind", "prev_hash", "seq", "ts")}
    assert stored.hash == hashlib.sha256(rfc8785.dumps(expected)).hexdigest()
