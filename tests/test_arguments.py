"""Shape limits of a call's arguments: exact boundaries, and no recursion however deep."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.arguments import ArgumentLimits, ArgumentsOverLimit, check_arguments, within_limits


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def test_depth_counts_the_arguments_object_as_level_one() -> None:
    limits = ArgumentLimits(max_depth=3)
    assert within_limits({"a": _nested(2)}, limits)  # object, list, list
    with pytest.raises(ArgumentsOverLimit, match="nested deeper than 3 levels"):
        check_arguments({"a": _nested(3)}, limits)


def test_far_deeper_than_the_interpreter_recursion_limit_is_just_refused() -> None:
    with pytest.raises(ArgumentsOverLimit, match="nested deeper than 32 levels"):
        check_arguments({"a": _nested(200_000)}, ArgumentLimits())


def test_keys_count_at_every_depth() -> None:
    limits = ArgumentLimits(max_keys=4)
    assert within_limits({"a": {"b": 1}, "c": [{"d": 2}]}, limits)
    with pytest.raises(ArgumentsOverLimit, match="more than 4 keys"):
        check_arguments({"a": {"b": 1}, "c": [{"d": 2, "e": 3}]}, limits)


def test_size_counts_strings_keys_and_structure() -> None:
    limits = ArgumentLimits(max_bytes=1024)
    assert within_limits({"text": "x" * 1000}, limits)
    with pytest.raises(ArgumentsOverLimit, match="larger than 1024 characters"):
        check_arguments({"text": "x" * 1020}, limits)
    with pytest.raises(ArgumentsOverLimit, match="larger than 1024 characters"):
        check_arguments({"n": list(range(200))}, limits)  # numbers count too


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_depth"):
        ArgumentLimits(max_depth=0)
    with pytest.raises(ValueError, match="Extra inputs"):
        ArgumentLimits.model_validate({"max_depht": 3})
