"""The ORDS `q` filter object (`{"salary": {"$gt": 5000}, "$orderby": {"salary": "desc"}}`)
translated to a parameterised SQL WHERE and ORDER BY. Column names are checked against the
table, values always travel as parameters."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from gateway.errors import InvalidInput


class FilterError(InvalidInput):
    pass


_COMPARISONS = {"$eq": "=", "$ne": "<>", "$lt": "<", "$lte": "<=", "$gt": ">", "$gte": ">="}
Scalar = str | int | float | bool | None


def _scalar(op: str, value: Any) -> Any:
    if isinstance(value, dict | list):
        raise FilterError(f"{op} needs a scalar value, got {json.dumps(value)}")
    return value


class _Builder:
    def __init__(self, columns: Sequence[str]) -> None:
        self.columns = set(columns)
        self.params: list[Scalar] = []

    def column(self, name: str) -> str:
        if name.lower() not in self.columns:
            raise FilterError(f"unknown column {name!r}")
        return name.lower()

    def value(self, value: Scalar) -> str:
        self.params.append(value)
        return "?"

    def group(self, spec: Any, joiner: str) -> str:
        if not isinstance(spec, dict):
            raise FilterError(f"a filter object must be a JSON object, got {json.dumps(spec)}")
        parts = [self.term(key, value) for key, value in spec.items() if key != "$orderby"]
        return "(" + f" {joiner} ".join(parts) + ")" if parts else "1 = 1"

    def term(self, key: str, value: Any) -> str:
        if key in ("$and", "$or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"{key} needs a non-empty array of filter objects")
            return "(" + f" {key[1:].upper()} ".join(self.group(v, "AND") for v in value) + ")"
        if key.startswith("$"):
            raise FilterError(f"unknown operator {key!r}")
        column = self.column(key)
        if not isinstance(value, dict):
            return f"{column} = {self.value(_scalar(key, value))}"
        return "(" + " AND ".join(self.condition(column, op, arg) for op, arg in value.items()) + ")"

    def condition(self, column: str, op: str, arg: Any) -> str:
        if op in _COMPARISONS:
            return f"{column} {_COMPARISONS[op]} {self.value(_scalar(op, arg))}"
        if op == "$like":
            return f"{column} LIKE {self.value(_scalar(op, arg))}"
        if op in ("$instr", "$ninstr"):
            negate = "= 0" if op == "$ninstr" else "> 0"
            return f"instr(lower({column}), lower({self.value(_scalar(op, arg))})) {negate}"
        if op == "$null":
            return f"{column} IS NULL"
        if op == "$notnull":
            return f"{column} IS NOT NULL"
        if op in ("$between", "$in"):
            if not isinstance(arg, list) or not arg or (op == "$between" and len(arg) != 2):
                raise FilterError(f"{op} needs an array" + (" of two values" if op == "$between" else ""))
            values = [self.value(_scalar(op, a)) for a in arg]
            if op == "$between":
                return f"{column} BETWEEN {values[0]} AND {values[1]}"
            return f"{column} IN ({', '.join(values)})"
        raise FilterError(f"unknown operator {op!r} on column {column!r}")


def translate(q: str, columns: Sequence[str]) -> tuple[str, list[Scalar], str]:
    """(where, parameters, order by) for the `q` query parameter."""
    try:
        spec = json.loads(q)
    except ValueError:
        raise FilterError("q is not valid JSON") from None
    builder = _Builder(columns)
    where = builder.group(spec, "AND")
    order = spec.get("$orderby", {})
    if not isinstance(order, dict):
        raise FilterError("$orderby needs an object of column: asc|desc")
    clauses = []
    for name, direction in order.items():
        if str(direction).lower() not in ("asc", "desc"):
            raise FilterError(f"$orderby direction for {name!r} must be asc or desc")
        clauses.append(f"{builder.column(name)} {str(direction).upper()}")
    return where, builder.params, ", ".join(clauses)
