"""The gate in front of the read-only query tool: one SELECT, values only through named bind
parameters, nothing that writes, locks, changes the session or calls out.

Agents write the SQL text, so it is checked token by token before anything is sent:
no string literals (a value must be a bind, so an argument can never become SQL), no
comments (they hide text from review), no second statement, no positional binds, and no
keyword that writes or changes state anywhere in the text. The backend account should be
read-only as well; this gate makes the tool safe even when it is not.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidInput


class QueryRejected(InvalidInput):
    """The statement is not a single read-only SELECT with named binds; says why."""


_TOKEN = re.compile(
    r"""(?P<space>\s+)
      |(?P<comment>--[^\n]*|/\*.*?\*/)
      |(?P<string>'(?:[^']|'')*')
      |(?P<identifier>"(?:[^"]|"")*")
      |(?P<bind>:[A-Za-z_][A-Za-z0-9_]*)
      |(?P<positional>\?\d*|[@$][A-Za-z0-9_]+|:\d+)
      |(?P<number>(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)
      |(?P<word>[A-Za-z_][A-Za-z0-9_$#]*)
      |(?P<operator>\|\||<=|>=|<>|!=|==|[-+*/%(),.;<>=])""",
    re.VERBOSE | re.DOTALL,
)
#: Statements and clauses that write, lock, change the session or reach outside the query.
_FORBIDDEN = frozenset(
    {
        "INSERT",
        "UPDATE",
        "DELETE",
        "MERGE",
        "UPSERT",
        "DROP",
        "CREATE",
        "ALTER",
        "TRUNCATE",
        "RENAME",
        "GRANT",
        "REVOKE",
        "ATTACH",
        "DETACH",
        "PRAGMA",
        "VACUUM",
        "REINDEX",
        "ANALYZE",
        "EXEC",
        "EXECUTE",
        "CALL",
        "BEGIN",
        "DECLARE",
        "COMMIT",
        "ROLLBACK",
        "SAVEPOINT",
        "RELEASE",
        "INTO",
        "LOCK",
        "NOWAIT",
        "LOAD_EXTENSION",
        "READFILE",
        "WRITEFILE",
        "SHUTDOWN",
    }
)
#: Oracle packages that act outside the query (files, network, jobs, dynamic SQL).
_FORBIDDEN_PREFIXES = ("DBMS_", "UTL_", "OWA_", "HTP", "APEX_")
MAX_LENGTH = 10_000


@dataclass(frozen=True, slots=True)
class CheckedQuery:
    sql: str
    binds: Mapping[str, Any]


def check_query(sql: str, params: Mapping[str, Any]) -> CheckedQuery:
    if len(sql) > MAX_LENGTH:
        raise QueryRejected(f"the statement is longer than {MAX_LENGTH} characters")
    tokens: list[tuple[str, str]] = []
    pos = 0
    while pos < len(sql):
        match = _TOKEN.match(sql, pos)
        if match is None:
            raise QueryRejected(
                f"unexpected character {sql[pos]!r} at position {pos} (or an unterminated literal or comment)"
            )
        kind = match.lastgroup or ""
        if kind == "comment":
            raise QueryRejected("comments are not allowed")
        if kind == "string":
            raise QueryRejected(
                f"string literals are not allowed ({match.group()[:20]}); pass values as bind "
                "parameters (:name) in params"
            )
        if kind == "positional":
            raise QueryRejected(f"only named bind parameters (:name) are allowed, found {match.group()!r}")
        if kind != "space":
            tokens.append((kind, match.group()))
        pos = match.end()
    if tokens and tokens[-1] == ("operator", ";"):
        tokens.pop()
    if not tokens:
        raise QueryRejected("the statement is empty")
    if ("operator", ";") in tokens:
        raise QueryRejected("only a single statement is allowed (found ';')")
    first = tokens[0][1].upper()
    if tokens[0][0] != "word" or first not in ("SELECT", "WITH"):
        raise QueryRejected(f"only SELECT statements are allowed, found {tokens[0][1]!r}")
    words = [(i, text.upper()) for i, (kind, text) in enumerate(tokens) if kind == "word"]
    for index, word in words:
        # REPLACE is also the harmless string function replace(...).
        if word in _FORBIDDEN or (word == "REPLACE" and tokens[index + 1 : index + 2] != [("operator", "(")]):
            raise QueryRejected(f"{word} is not allowed in a read-only query")
        if word.startswith(_FORBIDDEN_PREFIXES):
            raise QueryRejected(f"{word} is not allowed in a read-only query")
    used = {text[1:] for kind, text in tokens if kind == "bind"}
    missing = sorted(used - set(params))
    if missing:
        raise QueryRejected(f"bind :{missing[0]} has no value in params")
    unused = sorted(set(params) - used)
    if unused:
        raise QueryRejected(f"params.{unused[0]} is not used by the statement")
    return CheckedQuery(sql=sql.strip().rstrip(";").rstrip(), binds=dict(params))
