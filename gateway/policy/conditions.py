"""The condition column: a small, checked expression language over arguments and context.

A condition reads like a Casbin ABAC matcher (`r.args.amount >= 10000 && r.args.currency
!= 'EUR'`). It is parsed and checked once at load, where every fault gets a precise
message, and compiled to a Python function so a decision never re-parses text. The
Casbin reference evaluator runs the same text through simpleeval, Casbin's own
evaluator, which is what the differential test compares against.
"""

from __future__ import annotations

import ast
import functools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from gateway.errors import InvalidInput

#: Context keys the pipeline passes (see gateway.policy.context); anything else is a typo.
CONTEXT_KEYS = frozenset({"hour", "weekday", "tenant", "front_door", "scopes", "client", "issuer", "claims"})
#: Context values that are mappings a condition reads into (`r.ctx.claims.department`).
NESTED_CONTEXT_KEYS = frozenset({"claims"})

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*\Z")
# simpleeval (Casbin's evaluator) tries getattr before item access, so an argument called
# `items` or `upper` would read a method there instead of the value: refuse such names.
_SHADOWED = frozenset(name for kind in (dict, str, list, int, float) for name in dir(kind))
_COMPARISONS = (ast.Eq, ast.NotEq, ast.Lt, ast.LtE, ast.Gt, ast.GtE, ast.In, ast.NotIn)

Test = Callable[[Mapping[str, Any], Mapping[str, Any]], bool]


@dataclass(frozen=True, slots=True)
class Condition:
    text: str
    #: The text with Casbin's `&&`, `||`, `!` spelled as Python's `and`, `or`, `not`.
    python: str
    #: None when the condition is always true (`true`), so the hot path can skip the call.
    test: Test | None
    arg_names: frozenset[str]
    ctx_names: frozenset[str]

    def describe_failure(self, exc: Exception) -> str:
        """One line saying why evaluating this condition raised."""
        if isinstance(exc, KeyError) and exc.args:
            key = exc.args[0]
            if key in self.arg_names:
                return f"argument {key!r} is missing"
            if key in self.ctx_names:
                return f"context value {key!r} is missing"
            return f"key {key!r} is missing"
        return f"{type(exc).__name__}: {exc}"


class ConditionError(InvalidInput):
    """A condition refused at load; `column` (1-based, in the condition's text) says where."""

    def __init__(self, message: str, column: int = 1) -> None:
        super().__init__(message)
        self.column = column


def _spelled_as_python(text: str) -> tuple[str, list[int]]:
    """The text with `&&`, `||`, `!` as `and`, `or`, `not` (string literals left alone), and
    for each character of the result the index in `text` it came from (for error columns)."""
    out: list[str] = []
    origin: list[int] = []

    def emit(piece: str, at: int) -> None:
        out.append(piece)
        origin.extend([at] * len(piece))

    quote: str | None = None
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            emit(ch, i)
            if ch == "\\" and i + 1 < len(text):
                emit(text[i + 1], i + 1)
                i += 1
            elif ch == quote:
                quote = None
        elif ch in "'\"":
            quote = ch
            emit(ch, i)
        elif text.startswith("&&", i):
            emit(" and ", i)
            i += 1
        elif text.startswith("||", i):
            emit(" or ", i)
            i += 1
        elif ch == "!" and not text.startswith("!=", i):
            emit(" not ", i)
        else:
            emit(ch, i)
        i += 1
    return "".join(out), origin


def casbin_to_python(text: str) -> str:
    """Spell Casbin's `&&`, `||` and `!` as Python operators, leaving string literals alone."""
    return _spelled_as_python(text)[0].strip()


def _syntax_hint(text: str, index: int) -> str:
    """A suggestion for the commonest slips at `index` of the condition text."""
    rest = text[index:]
    if rest.startswith(("=>", "=<")):
        return f" (write '{rest[1]}=', not '{rest[:2]}')"
    if rest.startswith("===") or (rest.startswith("=") and not rest.startswith("==")):
        return " (compare with '==', not '=' or '===')"
    if rest[:1] in ("'", '"') or text.count("'") % 2 or text.count('"') % 2:
        return " (a quote is not closed)"
    if text.count("(") != text.count(")"):
        return " (the parentheses do not balance)"
    return ""


class _Checker:
    """Walks a parsed condition, refusing anything outside the language, and rewrites
    `r.args.x.y` into `a['x']['y']` for the compiled form."""

    def __init__(self) -> None:
        self.arg_names: set[str] = set()
        self.ctx_names: set[str] = set()

    def boolean(self, node: ast.expr) -> ast.expr:
        if isinstance(node, ast.BoolOp):
            return ast.BoolOp(op=node.op, values=[self.boolean(v) for v in node.values])
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return ast.UnaryOp(op=node.op, operand=self.boolean(node.operand))
        if isinstance(node, ast.Compare):
            for op in node.ops:
                if not isinstance(op, _COMPARISONS):
                    raise ValueError(f"operator {type(op).__name__} is not allowed (use == != < <= > >= in, not in)")
            comparators = [
                self.container(c) if isinstance(op, ast.In | ast.NotIn) else self.value(c)
                for op, c in zip(node.ops, node.comparators, strict=True)
            ]
            return ast.Compare(left=self.value(node.left), ops=node.ops, comparators=comparators)
        if self._bool_constant(node) is not None:
            return ast.Constant(value=self._bool_constant(node))
        raise ValueError(f"{ast.unparse(node)!r} is not a comparison or true/false (write e.g. `r.args.flag == true`)")

    @staticmethod
    def _bool_constant(node: ast.expr) -> bool | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, bool):
            return node.value
        if isinstance(node, ast.Name) and node.id in ("true", "false"):
            return node.id == "true"
        return None

    def value(self, node: ast.expr) -> ast.expr:
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and any(operator in node.value for operator in ("&&", "||", "!"))
        ):
            raise ValueError(
                f"{node.value!r}: Casbin rewrites && || ! even inside strings, so they cannot appear in one"
            )
        if isinstance(node, ast.Constant) and (node.value is None or isinstance(node.value, str | int | float)):
            return ast.Constant(value=node.value)
        if self._bool_constant(node) is not None:
            return ast.Constant(value=self._bool_constant(node))
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and type(node.operand.value) in (int, float)
        ):
            number = node.operand.value
            assert isinstance(number, int | float)
            return ast.Constant(value=-number)
        if isinstance(node, ast.Tuple | ast.List):
            return ast.Tuple(elts=[self.value(e) for e in node.elts], ctx=ast.Load())
        if isinstance(node, ast.Attribute):
            return self.reference(node)
        raise ValueError(
            f"{ast.unparse(node)!r} is not allowed (use r.args.NAME, r.ctx.NAME, numbers, 'strings', lists)"
        )

    def container(self, node: ast.expr) -> ast.expr:
        """The right side of `in`: a value, or `r.args` / `r.ctx.claims` itself (`'priority' in
        r.args` asks whether the call carries that argument, and reads nothing that could be
        missing)."""
        if (
            isinstance(node, ast.Attribute)
            and node.attr == "args"
            and isinstance(node.value, ast.Name)
            and node.value.id == "r"
        ):
            return ast.Name(id="a", ctx=ast.Load())
        if (  # `'department' in r.ctx.claims`: whether the token carries that claim
            isinstance(node, ast.Attribute)
            and node.attr in NESTED_CONTEXT_KEYS
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "ctx"
            and isinstance(node.value.value, ast.Name)
            and node.value.value.id == "r"
        ):
            self.ctx_names.add(node.attr)
            return ast.Subscript(
                value=ast.Name(id="c", ctx=ast.Load()), slice=ast.Constant(value=node.attr), ctx=ast.Load()
            )
        return self.value(node)

    def reference(self, node: ast.Attribute) -> ast.expr:
        path: list[str] = []
        current: ast.expr = node
        while isinstance(current, ast.Attribute):
            path.append(current.attr)
            current = current.value
        path.reverse()
        if not (isinstance(current, ast.Name) and current.id == "r") or len(path) < 2 or path[0] not in ("args", "ctx"):
            raise ValueError(f"{ast.unparse(node)!r}: only r.args.NAME and r.ctx.NAME can be read")
        for name in path[1:]:
            if not _NAME.match(name) or name.startswith("func_") or name in _SHADOWED:
                raise ValueError(f"{ast.unparse(node)!r}: {name!r} cannot be used as a name in a condition")
        if path[0] == "ctx":
            nested = path[1] in NESTED_CONTEXT_KEYS
            if path[1] not in CONTEXT_KEYS or (len(path) == 2) == nested:
                raise ValueError(
                    f"{ast.unparse(node)!r}: unknown context value (known: {', '.join(sorted(CONTEXT_KEYS))})"
                )
            self.ctx_names.add(path[1])
        else:
            self.arg_names.add(path[1])
        result: ast.expr = ast.Name(id="a" if path[0] == "args" else "c", ctx=ast.Load())
        for name in path[1:]:
            result = ast.Subscript(value=result, slice=ast.Constant(value=name), ctx=ast.Load())
        return result


@functools.lru_cache(maxsize=8192)
def compile_condition(text: str) -> Condition:
    """Check and compile one condition; raises ValueError saying what is wrong.

    Cached by text: policies repeat conditions and a Condition is immutable.
    """
    spelled, origin = _spelled_as_python(text)
    python = spelled.strip()
    if not python:
        raise ConditionError("condition is empty (write `true` for none)")
    leading = len(spelled) - len(spelled.lstrip())
    try:
        tree = ast.parse(python, mode="eval")
    except SyntaxError as exc:
        index = origin[min(leading + max((exc.offset or 1) - 1, 0), len(origin) - 1)]
        raise ConditionError(
            f"condition {text!r} does not parse: {exc.msg}{_syntax_hint(text, index)}", column=index + 1
        ) from exc
    checker = _Checker()
    try:
        body = checker.boolean(tree.body)
    except ValueError as exc:
        raise ConditionError(f"condition {text!r}: {exc}") from exc
    test: Test | None = None
    if not (isinstance(body, ast.Constant) and body.value is True):
        function = ast.Expression(
            body=ast.Lambda(
                args=ast.arguments(
                    posonlyargs=[],
                    args=[ast.arg(arg="a"), ast.arg(arg="c")],
                    kwonlyargs=[],
                    kw_defaults=[],
                    defaults=[],
                ),
                body=body,
            )
        )
        test = eval(compile(ast.fix_missing_locations(function), "<condition>", "eval"), {"__builtins__": {}})
    return Condition(
        text=text,
        python=python,
        test=test,
        arg_names=frozenset(checker.arg_names),
        ctx_names=frozenset(checker.ctx_names),
    )
