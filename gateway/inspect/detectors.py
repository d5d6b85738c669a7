"""Recognizers for the entities result rules mask: a candidate regex with boundaries, then
a checksum or registry check, so that order numbers, timestamps and hex identifiers of
the right length are not taken for bank or identity numbers.

Why not Presidio (measured, see docs/results.md): its default AnalyzerEngine downloads a
spaCy model at start-up, which fails offline; with a model-free NLP engine its pattern
recognizers work but take ~80 ms for a 10 KB result, 400 times the budget. The ideas are
the same (pattern, validation, per-country recognizers); the checks come from
python-stdnum and phonenumbers, both pure Python and kept up to date.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from stdnum.ch import ssn as ch_ssn
from stdnum.de import idnr as de_idnr
from stdnum.de import stnr as de_stnr
from stdnum.es import nif as es_nif
from stdnum.fr import nir as fr_nir
from stdnum.it import codicefiscale as it_cf
from stdnum.nl import bsn as nl_bsn
from stdnum.us import ssn as us_ssn

#: Letters and digits on either side of a candidate mean it is part of a longer token
#: (a hex id, a file name): never a match.
_B = r"(?<![\w@.+-])"
_E = r"(?![\w@-])"


def luhn_valid(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


#: 13 to 19 digits, optionally grouped by single spaces or dashes, not inside a longer token.
CARD_PATTERN = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")


def is_card_number(candidate: str) -> bool:
    digits = re.sub(r"[ -]", "", candidate)
    # Issuer prefixes in use (Visa, Mastercard, Amex, Discover, JCB, Diners, UnionPay, Maestro).
    return digits[0] in "3456" and luhn_valid(digits)


def _iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if _IBAN_LENGTHS.get(compact[:2], len(compact)) != len(compact):
        return False
    moved = compact[4:] + compact[:4]
    return int("".join(str(int(ch, 36)) for ch in moved)) % 97 == 1


_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27, "GB": 22,
    "IE": 22, "IT": 27, "LI": 21, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24, "SK": 24,
}  # fmt: skip


@lru_cache(maxsize=4096)
def _phone_valid(candidate: str) -> bool:
    regions = (None,) if candidate.startswith("+") else _PHONE_REGIONS
    for region in regions:
        try:
            number = phonenumbers.parse(candidate, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return True
    return False


#: National formats are tried for these countries; international (+CC) numbers for all.
_PHONE_REGIONS = ("US", "DE", "GB", "FR", "CH")


def _any(_candidate: str) -> bool:
    return True


def _stdnum(module: object) -> Callable[[str], bool]:
    check: Callable[[str], bool] = module.is_valid  # type: ignore[attr-defined]
    return check


@dataclass(frozen=True, slots=True)
class Recognizer:
    entity: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool]


def _bounded(entity: str, pattern: str, valid: Callable[[str], bool]) -> Recognizer:
    return Recognizer(entity, re.compile(_B + pattern + _E), valid)


RECOGNIZERS: tuple[Recognizer, ...] = (
    _bounded("EMAIL", r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}", _any),
    _bounded("IBAN", r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?", _iban_valid),
    Recognizer("CREDIT_CARD", CARD_PATTERN, is_card_number),
    _bounded("US_SSN", r"\d{3}-\d{2}-\d{4}", _stdnum(us_ssn)),
    _bounded("DE_TAX_ID", r"\d{2} ?\d{3} ?\d{3} ?\d{3}", _stdnum(de_idnr)),
    _bounded("DE_TAX_NUMBER", r"\d{2,3}/\d{3,4}/\d{4,5}", _stdnum(de_stnr)),
    _bounded("FR_NIR", r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[AB]) ?\d{3} ?\d{3} ?\d{2}", _stdnum(fr_nir)),
    _bounded("NL_BSN", r"\d{4}\.\d{2}\.\d{3}", _stdnum(nl_bsn)),
    _bounded("ES_NIF", r"(?:\d{8}|[XYZ]\d{7})-?[A-Z]", _stdnum(es_nif)),
    _bounded("IT_FISCAL_CODE", r"[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]", _stdnum(it_cf)),
    _bounded("CH_AHV", r"756\.\d{4}\.\d{4}\.\d{2}", _stdnum(ch_ssn)),
    _bounded("GB_NINO", r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D]", _any),
    _bounded("PHONE", r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])\d{2,4}[ .-]?\d{3,5}", _phone_valid),
)

#: Names a rule may use for several recognizers at once.
GROUPS: dict[str, tuple[str, ...]] = {
    "NATIONAL_ID": ("US_SSN", "DE_TAX_ID", "FR_NIR", "NL_BSN", "ES_NIF", "IT_FISCAL_CODE", "CH_AHV", "GB_NINO"),
    "TAX_ID": ("DE_TAX_ID", "DE_TAX_NUMBER"),
}
ENTITIES: frozenset[str] = frozenset(r.entity for r in RECOGNIZERS)


def expand(names: Iterable[str]) -> tuple[str, ...]:
    """Entity names with groups expanded, in recognizer order; ValueError naming an unknown one."""
    wanted: set[str] = set()
    for name in names:
        if name in GROUPS:
            wanted.update(GROUPS[name])
        elif name in ENTITIES:
            wanted.add(name)
        else:
            known = ", ".join(sorted(ENTITIES | GROUPS.keys()))
            raise ValueError(f"unknown entity {name!r} (known: {known})")
    return tuple(r.entity for r in RECOGNIZERS if r.entity in wanted)


@dataclass(frozen=True, slots=True)
class Span:
    entity: str
    start: int
    end: int


class Detector:
    """The recognizers for some entities, compiled into one scan per string."""

    def __init__(self, entities: Iterable[str]) -> None:
        chosen = [r for r in RECOGNIZERS if r.entity in set(entities)]
        self.entities = tuple(r.entity for r in chosen)
        self._checks = {f"e{i}": r for i, r in enumerate(chosen)}
        # One alternation, one pass: most strings match nothing and cost one regex scan.
        alternatives = "|".join(f"(?P<{name}>{r.pattern.pattern})" for name, r in self._checks.items())
        self._scan = re.compile(alternatives) if chosen else None
        self._order = tuple(self._checks)
        # A cheap test that a string can hold any candidate at all (all need a digit or an @).
        self._maybe = re.compile(r"[\d@]")

    def find(self, text: str) -> list[Span]:
        if self._scan is None or not self._maybe.search(text):
            return []
        spans: list[Span] = []
        for match in self._scan.finditer(text):
            span = self._confirm(text, match)
            if span is not None:
                spans.append(span)
        return spans

    def _confirm(self, text: str, match: re.Match[str]) -> Span | None:
        """The first recognizer, from the one that matched on, whose candidate here is valid:
        a run of digits that is no tax id may still be a phone number."""
        first = self._order.index(match.lastgroup or "")
        for name in self._order[first:]:
            recognizer = self._checks[name]
            found = match if name == match.lastgroup else recognizer.pattern.match(text, match.start())
            if found is not None and recognizer.valid(found.group()):
                return Span(recognizer.entity, found.start(), found.end())
        return None

    def mask(self, text: str, counts: dict[str, int]) -> str:
        """`text` with each entity replaced by `[ENTITY]`; adds to `counts` per entity."""
        spans = self.find(text)
        if not spans:
            return text
        parts: list[str] = []
        last = 0
        for span in spans:
            parts += [text[last : span.start], f"[{span.entity}]"]
            last = span.end
            counts[span.entity] = counts.get(span.entity, 0) + 1
        parts.append(text[last:])
        return "".join(parts)
