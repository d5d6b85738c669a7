from __future__ import annotations

import random
from types import MappingProxyType

import pytest
import rfc8785

from gateway.audit.canonical import CanonicalizationError, canonical_json

_KEYS = ["a", "b", "Z", "é", "\U0001f600", "\ufb01", "key_1", "", "10", "9"]
_STRINGS = ["", "plain", 'quote " and \\ back', "ctl \x00\x1f\x7f\n\t", "ünïcødé", "\U0001f600 \u2028"]
_NUMBERS = [
    0,
    -1,
    2**53 - 1,
    -(2**53) + 1,
    0.5,
    -0.0,
    1.0,
    1e-7,
    1e-4,
    123.456,
    1e15 + 0.5,
    1e16,
    1e21,
    5e-324,
    1.7e308,
]


def _value(rng: random.Random, depth: int):
    pick = rng.randrange(6 if depth < 4 else 4)
    if pick == 0:
        return rng.choice(_STRINGS)
    if pick == 1:
        return rng.choice(_NUMBERS) * rng.choice([1, -1])
    if pick == 2:
        return rng.choice([True, False, None])
    if pick == 3:
        return rng.random() * 10 ** rng.randrange(-8, 22)
    if pick == 4:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {rng.choice(_KEYS): _value(rng, depth + 1) for _ in range(rng.randrange(5))}


def test_matches_the_reference_encoder_on_random_values() -> None:
    rng = random.Random(8785)
    for _ in range(3000):
        value = _value(rng, 0)
        assert canonical_json(value) == rfc8785.dumps(value), value


def test_accepts_tuples_and_read_only_mappings() -> None:
    value = {"roles": ("a", "b"), "claims": MappingProxyType({"x": 1.0})}
    assert canonical_json(value) == b'{"claims":{"x":1},"roles":["a","b"]}'


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 2**53, {1: 2}, object(), "\ud800"])
def test_refuses_values_json_cannot_carry_exactly(bad) -> None:
    with pytest.raises(CanonicalizationError):
        canonical_json({"v": bad})


def test_nesting_deeper_than_the_fast_encoder_takes_is_still_canonical() -> None:
    value: list[object] = [{"b": 1, "a": "x"}]
    for _ in range(300):
        value = [value, {"z": None, "y": 0.5}]
    assert canonical_json(value) == rfc8785.dumps(value)
