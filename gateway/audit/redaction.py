"""Redaction: secrets and personal data are replaced before a record is stored.

The digest of the canonical original arguments is kept beside the redacted copy, so an
auditor shown the original value can prove it is the one the call carried.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.inspect.detectors import CARD_PATTERN, luhn_valid

REDACTED = "[REDACTED]"


def _mask_card(match: re.Match[str]) -> str:
    # A Luhn check keeps order numbers and timestamps of card length out; the pattern's
    # boundaries keep digit runs inside hex ids and other tokens out.
    return REDACTED if luhn_valid(re.sub(r"[ -]", "", match.group())) else match.group()


class Redactor:
    """Replaces values under sensitive keys (any depth, case-insensitive) and matching text."""

    def __init__(self, keys: Iterable[str], patterns: Iterable[str], *, card_numbers: bool = True) -> None:
        self._keys = frozenset(_normal(k) for k in keys)
        self._patterns = tuple(re.compile(p) for p in patterns)
        self._card_numbers = card_numbers

    def redact(self, arguments: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
        """(redacted copy, sha256 hex of the canonical original); raises CanonicalizationError."""
        digest = sha256_hex(canonical_json(arguments))
        return self._mapping(arguments), digest

    def _mapping(self, value: Mapping[str, Any]) -> dict[str, Any]:
        return {k: REDACTED if _normal(k) in self._keys else self._value(v) for k, v in value.items()}

    def _value(self, value: Any) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Mapping):
            return self._mapping(value)
        if isinstance(value, list | tuple):
            return [self._value(v) for v in value]
        if self._card_numbers and type(value) is int and 13 <= len(str(abs(value))) <= 19:
            return REDACTED if luhn_valid(str(abs(value))) else value
        return value

    def _text(self, text: str) -> str:
        for pattern in self._patterns:
            text = pattern.sub(REDACTED, text)
        if self._card_numbers:
            text = CARD_PATTERN.sub(_mask_card, text)
        return text


def _normal(key: str) -> str:
    # `Api-Key`, `api_key` and `APIKEY` are the same secret to a reader.
    return re.sub(r"[-_\s]", "", str(key)).lower()
