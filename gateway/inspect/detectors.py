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
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import lru_cache

import ahocorasick_rs
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


#: 13 to 19 digits, optionally grouped by single spaces or dashes, not inside a longer token
#: (the audit log's argument redaction).
CARD_PATTERN = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
#: The card formats printed in results: a run of digits, 4-4-4-4(-3) or Amex 4-6-5.
DETECTED_CARD = re.compile(
    r"(?<![\w-])(?:\d{13,19}|\d{4}([ -])\d{4}\1\d{4}\1\d{1,7}|\d{4}([ -])\d{6}\2\d{4,5})(?![\w-])"
)


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


@dataclass(frozen=True, slots=True)
class Recognizer:
    entity: str
    pattern: re.Pattern[str]
    valid: Callable[[str], bool]
    #: Substrings one of which every match has, once digits read 0, capital ASCII letters A
    #: and small ones a: a text without any is skipped at C speed (a regex pass costs ~0.1 us
    #: per character). The patterns take capitals only, so `AA00` passes over `ap29`.
    shapes: tuple[str, ...]


#: Digits to 0, capital ASCII letters to A and small ones to a, for the shape test.
SHAPE = str.maketrans(
    {
        **{c: "0" for c in string.digits},
        **{c: "A" for c in string.ascii_uppercase},
        **{c: "a" for c in string.ascii_lowercase},
    }
)


def _any(_candidate: str) -> bool:
    return True


def _stdnum(module: object) -> Callable[[str], bool]:
    check: Callable[[str], bool] = module.is_valid  # type: ignore[attr-defined]
    return check


def _bounded(entity: str, pattern: str, valid: Callable[[str], bool], *shapes: str) -> Recognizer:
    # Results repeat values (a vendor's IBAN on every order): each is checked once.
    return Recognizer(entity, re.compile(f"{_B}(?:{pattern}){_E}"), lru_cache(maxsize=4096)(valid), shapes)


RECOGNIZERS: tuple[Recognizer, ...] = (
    _bounded("EMAIL", r"[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}", _any, "@"),
    _bounded("IBAN", r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?", _iban_valid, "AA00"),
    Recognizer(
        "CREDIT_CARD",
        DETECTED_CARD,
        is_card_number,
        ("0" * 13, "0000 0000 0000", "0000-0000-0000", "0000 000000 00000", "0000-000000-00000"),
    ),
    _bounded("US_SSN", r"\d{3}-\d{2}-\d{4}", _stdnum(us_ssn), "000-00-0000"),
    _bounded("DE_TAX_ID", r"\d{11}|\d{2} \d{3} \d{3} \d{3}", _stdnum(de_idnr), "0" * 11, "00 000 000 000"),
    _bounded("DE_TAX_NUMBER", r"\d{2,3}/\d{3,4}/\d{4,5}", _stdnum(de_stnr), "0/000"),
    _bounded(
        "FR_NIR",
        r"[12]\d{4}(?:\d{2}|2[AB])\d{8}|[12] \d{2} \d{2} (?:\d{2}|2[AB]) \d{3} \d{3} \d{2}",
        _stdnum(fr_nir),
        "0" * 15,
        "0A" + "0" * 8,
        "0 00 00 ",
    ),
    _bounded("NL_BSN", r"\d{4}\.\d{2}\.\d{3}", _stdnum(nl_bsn), "0000.00.000"),
    _bounded("ES_NIF", r"(?:\d{8}|[XYZ]\d{7})-?[A-Z]", _stdnum(es_nif), "0000000A", "0000000-A"),
    _bounded("IT_FISCAL_CODE", r"[A-Z]{6}\d{2}[A-EHLMPR-T]\d{2}[A-Z]\d{3}[A-Z]", _stdnum(it_cf), "AAAAAA00A00A000A"),
    _bounded("CH_AHV", r"756\.\d{4}\.\d{4}\.\d{2}", _stdnum(ch_ssn), "000.0000.0000.00"),
    _bounded(
        "GB_NINO",
        r"(?!BG|GB|NK|KN|TN|NT|ZZ)[A-CEGHJ-PR-TW-Z]{2}(?:\d{6}| \d{2} \d{2} \d{2} )[A-D]",
        _any,
        "AA000000A",
        "AA 00 00 00 A",
    ),
    _bounded(
        "PHONE",
        r"(?:\+\d{1,3}[ .-]?)?(?:\(\d{2,5}\)[ .-]?|\d{2,5}[ .-])\d{2,4}[ .-]?\d{3,5}",
        _phone_valid,
        "0 0",
        "0.0",
        "0-0",
        "0)",
    ),
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
    """The recognizers for some entities; each runs only on text that has one of its shapes."""

    def __init__(self, entities: Iterable[str]) -> None:
        wanted = set(entities)
        self.recognizers = tuple(r for r in RECOGNIZERS if r.entity in wanted)
        shapes = {s for r in self.recognizers for s in r.shapes}
        #: The shapes a whole text is searched for: one that holds another is found with it.
        self.needles = tuple(sorted(s for s in shapes if not any(o != s and o in s for o in shapes)))
        #: All needles in one pass (a third less time than a `find` for each over a 10 KB result).
        self._search = ahocorasick_rs.AhoCorasick(self.needles)

    def find(self, text: str) -> list[Span]:
        """Valid matches, left to right, none overlapping (the longer one wins a tie)."""
        shape = text.translate(SHAPE)
        spans: list[Span] = []
        for recognizer in self.recognizers:
            if any(s in shape for s in recognizer.shapes):
                spans += [
                    Span(recognizer.entity, m.start(), m.end())
                    for m in recognizer.pattern.finditer(text)
                    if recognizer.valid(m.group())
                ]
        spans.sort(key=lambda span: (span.start, span.start - span.end))
        kept: list[Span] = []
        for span in spans:
            if not kept or span.start >= kept[-1].end:
                kept.append(span)
        return kept

    def may_find(self, text: str) -> bool:
        """False when no recognizer's shape is in `text` (one translate, substring tests)."""
        shape = text.translate(SHAPE)
        return any(s in shape for s in self.needles)

    def lines_with_findings(self, lines: str) -> dict[str, list[Span]]:
        """The lines of `lines` in which something is found: one shape test over the whole
        text, then the regexes only on lines that have a shape."""
        candidates: set[str] = set()
        end = 0
        # Matches that do not overlap are enough: a shape left out overlaps one found, on the
        # same line (no shape holds a newline).
        for _, at, _ in self._search.find_matches_as_indexes(lines.translate(SHAPE)):
            if at < end:
                continue  # on the line taken already
            start = lines.rfind("\n", 0, at) + 1
            end = lines.find("\n", at)
            end = len(lines) if end == -1 else end
            candidates.add(lines[start:end])
        found = {line: self.find(line) for line in candidates}
        return {line: spans for line, spans in found.items() if spans}

    def mask(self, text: str, counts: dict[str, int]) -> str:
        """`text` with each entity replaced by `[ENTITY]`; adds to `counts` per entity."""
        return masked(text, self.find(text), counts)


def masked(text: str, spans: list[Span], counts: dict[str, int]) -> str:
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
