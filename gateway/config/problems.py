"""How a configuration problem is reported: the key path the operator has to fix, then
what is wrong with it. Built from pydantic's errors so every section reads the same."""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from gateway.errors import ConfigError, InvalidInput

__all__ = ["ConfigError", "KeyProblem", "MovedKey", "describe", "dotted", "problems"]

Location = tuple[str | int, ...]


class KeyProblem(InvalidInput):
    """Raised inside a validator for a problem with one key below the model being validated
    (empty `key`: the model itself). The message never repeats the value, so a secret that
    fails a check is not echoed."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class MovedKey(KeyProblem):
    """A key that moved elsewhere in its section: reported as `<old path>: moved to <new
    path> (<note>)`, both paths in full."""

    def __init__(self, key: str, new_key: str, note: str) -> None:
        super().__init__(key, f"moved to {new_key} ({note})")
        self.new_key = new_key
        self.note = note


def dotted(location: Sequence[str | int]) -> str:
    return ".".join(str(part) for part in location) or "(top level)"


def _model_of(annotation: Any) -> type[BaseModel] | None:
    """The model a field's values are validated by, through Optional, tuples and mappings."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    arguments = typing.get_args(annotation)
    if origin is typing.Annotated:
        return _model_of(arguments[0])
    if origin in (typing.Union, types.UnionType, tuple):
        for argument in arguments:
            found = _model_of(argument)
            if found is not None:
                return found
    if origin is not None and isinstance(origin, type) and issubclass(origin, Mapping) and arguments:
        return _model_of(arguments[-1])
    return None


def _members(annotation: Any) -> list[type[BaseModel]]:
    """The models of a union field (through Annotated and Optional); one or none otherwise."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _members(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [m for a in typing.get_args(annotation) for m in _members(a)]
    model = _model_of(annotation)
    return [model] if model is not None else []


def _tagged(members: list[type[BaseModel]], tag: str | int) -> type[BaseModel] | None:
    """The member of a discriminated union whose Literal field holds `tag`."""
    for member in members:
        for field in member.model_fields.values():
            if typing.get_origin(field.annotation) is typing.Literal and tag in typing.get_args(field.annotation):
                return member
    return None


def _without_tags(model: type[BaseModel], location: Location) -> Location:
    """`location` without the tags pydantic puts after a discriminated union's field
    (`auth.token_exchange.token_url` is `auth.token_url` in the file)."""
    kept: list[str | int] = []
    current: type[BaseModel] | None = model
    parts = list(location)
    while parts:
        part = parts.pop(0)
        kept.append(part)
        field = current.model_fields.get(str(part)) if current is not None else None
        if field is None:
            continue
        members = _members(field.annotation)
        member = _tagged(members, parts[0]) if len(members) > 1 and parts else None
        if member is not None:
            parts.pop(0)
        current = member or (members[0] if members else None)
    return tuple(kept)


def _union_tag(error: ErrorDetails) -> str | None:
    """A discriminated union's missing or unknown tag, said as the key it is."""
    ctx = error.get("ctx") or {}
    key = str(ctx.get("discriminator", "")).strip("'")
    if error["type"] == "union_tag_not_found":
        return f"{key}: required"
    if error["type"] == "union_tag_invalid":
        known = str(ctx.get("expected_tags", "")).replace("'", "")
        return f"{key}: unknown {key} {str(ctx.get('tag'))[:64]!r} (known: {known})"
    return None


def _known_keys(model: type[BaseModel], location: Location) -> list[str]:
    """Field names of the model found at `location` (list indexes and mapping keys skipped,
    a discriminated union's tag picking its member)."""
    current: type[BaseModel] | None = model
    members: list[type[BaseModel]] = []
    for part in location:
        if current is None:
            return []
        field = current.model_fields.get(str(part))
        if field is not None:
            members = _members(field.annotation)
            current = _model_of(field.annotation)
        elif (member := _tagged(members, part)) is not None:
            current = member
    return list(current.model_fields) if current is not None else []


def _unknown_key(model: type[BaseModel], location: Location) -> str:
    close = difflib.get_close_matches(str(location[-1]), _known_keys(model, location[:-1]), n=1, cutoff=0.6)
    return f"unknown key (did you mean {close[0]!r}?)" if close else "unknown key"


#: pydantic's words for Python types, as a YAML author knows them.
_YAML_WORDS = {"a valid tuple": "a list", "a valid dictionary": "a mapping", "Input should be": "expected"}


def _wording(message: str) -> str:
    message = message.removeprefix("Value error, ")
    for python, yaml in _YAML_WORDS.items():
        message = message.replace(python, yaml)
    return message[:1].lower() + message[1:]


#: Keys whose values are never quoted back, whatever their type.
SECRET_KEY = re.compile(r"secret|password|passwd|token|api_key|private_key", re.IGNORECASE)
NOT_SHOWN = "invalid value (not shown: a secret)"


def describe(error: ErrorDetails, model: type[BaseModel], prefix: Location = ()) -> str:
    location = _without_tags(model, tuple(error["loc"]))
    where = (*prefix, *location)
    tag = _union_tag(error)
    if tag is not None:
        return f"{dotted(where)}.{tag}"
    problem = (error.get("ctx") or {}).get("error")
    if isinstance(problem, MovedKey):
        new = dotted((*where, *problem.new_key.split(".")))
        return f"{dotted((*where, *problem.key.split('.')))}: moved to {new} ({problem.note})"
    if isinstance(problem, KeyProblem):
        return f"{dotted((*where, *problem.key.split('.')) if problem.key else where)}: {problem.message}"
    if error["type"] == "extra_forbidden":
        return f"{dotted(where)}: {_unknown_key(model, tuple(error['loc']))}"
    if error["type"] == "missing":
        return f"{dotted(where)}: required"
    if any(SECRET_KEY.search(str(part)) for part in location):
        return f"{dotted(where)}: {NOT_SHOWN}: {_wording(error['msg'])}"
    if isinstance(error["input"], dict | list | tuple | set):
        # A whole section or list is never quoted back: a secret may sit anywhere inside it.
        return f"{dotted(where)}: {_wording(error['msg'])}"
    return f"{dotted(where)}: invalid value {error['input']!r}: {_wording(error['msg'])}"


def problems(exc: ValidationError, model: type[BaseModel], prefix: Location = ()) -> list[str]:
    return [describe(error, model, prefix) for error in exc.errors(include_url=False)]
