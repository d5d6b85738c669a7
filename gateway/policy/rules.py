"""Parsing Casbin CSV policy files into checked rules and role links.

Rows are split exactly as Casbin's file adapter splits them (commas outside `()`/`[]`,
fields stripped, `#` lines are comments), but every row is then checked: Casbin itself
drops unknown line types silently and only fails at decision time on a bad row.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from gateway.errors import InvalidInput
from gateway.models import Effect
from gateway.policy.conditions import Condition, ConditionError, compile_condition
from gateway.policy.errors import PolicyError, Problem

#: Columns of a `p` row after the type, as the model's policy_definition names them.
P_COLUMNS = ("sub", "dom", "obj", "decision", "cond", "approval")
#: Columns of a `g` row after the type: member, role, tenant (`*` for every tenant).
G_COLUMNS = ("member", "role", "dom")
#: Casbin's role manager stops looking after this many inheritance steps; a longer chain would
#: silently grant less there than here, so it is refused at load.
MAX_ROLE_DEPTH = 10
MAX_APPROVERS = 10
ANY = "*"
#: Row type of result rules (gateway.policy.result_rules parses them; Casbin drops the type).
RESULT_ROW = "result"
T = TypeVar("T")
#: Parses a row of another type than p and g: (fields after the type, location, comment).
RowParser = Callable[[list[str], str, str], None]

_NAME = re.compile(r"[^\s,()\[\]#'\"*]+\Z")
#: Tools are `connector.tool`; prompts and resources carry a kind prefix and resources a URI
#: (`resources/echo.test://static-text`), hence `/` and URI characters. No `?` or `[`: they
#: are glob syntax in Casbin's globMatch.
_OBJECT = re.compile(r"[A-Za-z0-9_.*/:%~+@!$&=-]+\Z")
_APPROVAL = re.compile(r"(\d+)\s+(\S+)(?:\s+(\d+)([smhd]))?\Z")
_TTL_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True, slots=True)
class Rule:
    """One `p` row: who, which tenant, which tools, what outcome, under which condition."""

    location: str
    position: int
    sub: str
    dom: str
    obj: str
    effect: Effect
    condition: Condition
    approvals_required: int
    approver_role: str | None
    approval_ttl: float | None
    #: The comment line directly above the row: the rule's one-line purpose, shown in reasons.
    comment: str
    #: The row as Casbin stores it (without the `p`), used to map Casbin's answer back here.
    row: tuple[str, ...]
    obj_pattern: re.Pattern[str]

    def matches_object(self, obj: str) -> bool:
        return self.obj_pattern.fullmatch(obj) is not None


@dataclass(frozen=True, slots=True)
class RoleLink:
    """One `g` row: `member` has `role` in tenant `dom` (`*`: in every tenant)."""

    location: str
    member: str
    role: str
    dom: str

    @property
    def row(self) -> tuple[str, ...]:
        return (self.member, self.role, self.dom)


def split_row(line: str) -> list[str] | None:
    """Casbin's field splitting; raises ValueError on unbalanced brackets (Casbin crashes)."""
    depth = 0
    fields: list[str] = []
    start = 0
    for match in re.finditer(r"[,\[\]()]", line):
        ch = match.group()
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                raise ValueError(f"unbalanced {ch!r} at column {match.start() + 1}")
        elif depth == 0:
            fields.append(line[start : match.start()].strip())
            start = match.end()
    if depth:
        raise ValueError("unbalanced brackets: a '(' or '[' is never closed")
    fields.append(line[start:].strip())
    return fields


class _FieldError(InvalidInput):
    """A fault in one column of a row (0: the first after the type), `offset` characters in."""

    def __init__(self, message: str, field: int, offset: int = 0) -> None:
        super().__init__(message)
        self.field = field
        self.offset = offset


def _field_columns(line: str) -> list[int]:
    """Where each field of a row starts (0-based), split exactly as split_row splits."""
    starts = [0]
    depth = 0
    for match in re.finditer(r"[,\[\]()]", line):
        ch = match.group()
        depth += 1 if ch in "[(" else -1 if ch in "])" else 0
        if ch == "," and depth == 0:
            starts.append(match.end())
    return [start + len(line[start:]) - len(line[start:].lstrip()) for start in starts]


def object_pattern(pattern: str, *, deep: bool = False) -> re.Pattern[str]:
    """The glob as a regex; `*` stops at `/` as in Casbin's globMatch (wcmatch). With `deep`
    (result rules, which Casbin never sees), `**` crosses `/` too: `resources/**`."""

    def shallow(glob: str) -> str:
        return "[^/]*".join(re.escape(part) for part in glob.split("*"))

    return re.compile(".*".join(shallow(glob) for glob in (pattern.split("**") if deep else [pattern])))


def check_name(value: str, what: str, *, wildcard: bool) -> None:
    if wildcard and value == ANY:
        return
    if not _NAME.match(value):
        allowed = " or *" if wildcard else ""
        raise ValueError(f"{what} {value!r} is not a name{allowed} (no spaces, commas, brackets, quotes, # or *)")


def _parse_approval(value: str, effect: Effect) -> tuple[int, str | None, float | None]:
    if effect is not Effect.APPROVE:
        if value != "-":
            raise ValueError(f"approval column must be '-' for a {effect.value} rule, got {value!r}")
        return 0, None, None
    match = _APPROVAL.match(value)
    if not match:
        raise ValueError(f"approval column {value!r} must read 'COUNT ROLE [TTL]', e.g. '2 finance-approver 4h'")
    count = int(match.group(1))
    if not 1 <= count <= MAX_APPROVERS:
        raise ValueError(f"approval count {count} must be between 1 and {MAX_APPROVERS}")
    check_name(match.group(2), "approver role", wildcard=False)
    ttl = int(match.group(3)) * _TTL_UNITS[match.group(4)] if match.group(3) else None
    if ttl == 0:
        raise ValueError("approval TTL must be more than 0")
    return count, match.group(2), float(ttl) if ttl is not None else None


def _in_field(field: int, check: Callable[[], T]) -> T:
    try:
        return check()
    except ConditionError as exc:
        raise _FieldError(str(exc), field, exc.column - 1) from None
    except ValueError as exc:
        raise _FieldError(str(exc), field) from None


def check_object(obj: str) -> None:
    if not _OBJECT.match(obj) or "**" in obj or obj.startswith("*/"):
        raise ValueError(
            f"object {obj!r} must be connector.tool, prompts/connector.prompt or resources/connector.URI "
            "with * as wildcard (letters, digits and _ . - * / : % ~ + @ ! $ & =; not starting with */)"
        )


def _parse_rule(fields: list[str], location: str, position: int, comment: str) -> Rule:
    sub, dom, obj, decision, cond, approval = fields
    _in_field(0, lambda: check_name(sub, "subject", wildcard=True))
    _in_field(1, lambda: check_name(dom, "tenant", wildcard=True))
    _in_field(2, lambda: check_object(obj))
    try:
        effect = Effect(decision)
    except ValueError:
        raise _FieldError(f"decision {decision!r} must be allow, deny or approve", 3) from None
    condition = _in_field(4, lambda: compile_condition(cond))
    approvals, approver, ttl = _in_field(5, lambda: _parse_approval(approval, effect))
    return Rule(
        location=location,
        position=position,
        sub=sub,
        dom=dom,
        obj=obj,
        effect=effect,
        condition=condition,
        approvals_required=approvals,
        approver_role=approver,
        approval_ttl=ttl,
        comment=comment,
        row=tuple(fields),
        obj_pattern=object_pattern(obj),
    )


def _parse_link(fields: list[str], location: str) -> RoleLink:
    member, role, dom = fields
    _in_field(0, lambda: check_name(member, "member", wildcard=False))
    _in_field(1, lambda: check_name(role, "role", wildcard=False))
    _in_field(2, lambda: check_name(dom, "tenant", wildcard=True))
    if member == role:
        raise _FieldError(f"{member!r} cannot inherit itself", 1)
    return RoleLink(location=location, member=member, role=role, dom=dom)


def parse_rule_file(name: str, text: str, first_position: int) -> tuple[list[Rule], list[RoleLink]]:
    """Parse one CSV file; raises PolicyError naming `name:line:column` for every bad row."""
    rules, links, problems = parse_rule_rows(name, text, first_position)
    if problems:
        raise PolicyError.of(problems)
    return rules, links


def parse_rule_rows(
    name: str, text: str, first_position: int, others: Mapping[str, RowParser] | None = None
) -> tuple[list[Rule], list[RoleLink], list[Problem]]:
    """Parse one CSV file: its rules and links, and a Problem for each row that is refused.
    Rows of a type in `others` go to its parser; `result` rows are skipped without one."""
    rules: list[Rule] = []
    links: list[RoleLink] = []
    problems: list[Problem] = []
    comment = ""
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        location = f"{name}:{number}"
        if not line:
            comment = ""
            continue
        if line.startswith("#"):
            comment = line.lstrip("#").strip()
            continue
        try:
            fields = split_row(line)
            if fields is None:
                continue
            kind, values = fields[0], fields[1:]
            if kind == "p":
                if len(values) != len(P_COLUMNS):
                    raise ValueError(
                        f"p row has {len(values)} columns, expected {len(P_COLUMNS)}: {', '.join(P_COLUMNS)}"
                    )
                rules.append(_parse_rule(values, location, first_position + len(rules), comment))
            elif kind == "g":
                if len(values) != len(G_COLUMNS):
                    raise ValueError(
                        f"g row has {len(values)} columns, expected {len(G_COLUMNS)}: {', '.join(G_COLUMNS)}"
                    )
                links.append(_parse_link(values, location))
            elif others is not None and kind in others:
                others[kind](values, location, comment)
            elif kind != RESULT_ROW:
                expected = f"expected p, g or {RESULT_ROW}; Casbin would silently drop this line"
                raise ValueError(f"unknown line type {kind!r} ({expected})")
        except _FieldError as exc:
            columns = _field_columns(raw)
            start = columns[exc.field + 1] if exc.field + 1 < len(columns) else len(raw) - len(raw.lstrip())
            problems.append(Problem(location, start + exc.offset + 1, str(exc)))
        except ValueError as exc:
            problems.append(Problem(location, len(raw) - len(raw.lstrip()) + 1, str(exc)))
        comment = ""
    return rules, links, problems


def check_unique(rules: Iterable[Rule], links: Iterable[RoleLink]) -> None:
    """Casbin keeps one copy of a repeated row; a repeat is almost always an editing slip."""
    seen: dict[tuple[str, ...], str] = {}
    items: list[Rule | RoleLink] = [*rules, *links]
    for item in items:
        key = ("p", *item.row) if isinstance(item, Rule) else ("g", *item.row)
        if key in seen:
            raise PolicyError(f"{item.location}: repeats the row at {seen[key]}")
        seen[key] = item.location


def _check_chains(edges: dict[str, list[RoleLink]]) -> None:
    depth: dict[str, int] = {}

    def longest(name: str, path: tuple[str, ...]) -> int:
        if name in depth:
            return depth[name]
        best = 0
        for link in edges.get(name, ()):
            if link.role in path:
                raise PolicyError(f"{link.location}: role cycle {' -> '.join([*path, link.role])}")
            best = max(best, 1 + longest(link.role, (*path, link.role)))
            if best > MAX_ROLE_DEPTH:
                raise PolicyError(
                    f"{link.location}: role chain from {path[0]!r} is deeper than {MAX_ROLE_DEPTH} levels"
                )
        depth[name] = best
        return best

    for member in edges:
        longest(member, (member,))


def check_role_graph(links: list[RoleLink]) -> None:
    """Refuse cycles and chains longer than Casbin follows, per tenant the links apply to."""
    tenants = {link.dom for link in links if link.dom != ANY}
    for tenant in [ANY, *sorted(tenants)]:
        edges: dict[str, list[RoleLink]] = {}
        for link in links:
            if link.dom in (ANY, tenant):
                edges.setdefault(link.member, []).append(link)
        _check_chains(edges)
