"""Entity recognizers: each finds its valid examples and nothing that only looks like one."""

from __future__ import annotations

import pytest

from gateway.inspect.detectors import Detector, expand

FOUND = [
    ("IBAN", "pay to DE89 3704 0044 0532 0130 00 today"),
    ("IBAN", "GB29NWBK60161331926819"),
    ("IBAN", "CH9300762011623852957"),
    ("CREDIT_CARD", "card 4111 1111 1111 1111 expires"),
    ("CREDIT_CARD", "5500-0000-0000-0004"),
    ("EMAIL", "write to anna.berg+hr@example.co.uk."),
    ("PHONE", "call +49 30 1234567"),
    ("PHONE", "call (650) 253-0000"),
    ("US_SSN", "ssn 536-90-4399"),
    ("DE_TAX_ID", "IdNr 36574261809"),
    ("DE_TAX_NUMBER", "St.-Nr. 21/815/08150"),
    ("FR_NIR", "NIR 2 95 10 99 126 111 93"),
    ("NL_BSN", "BSN 1112.22.333"),
    ("ES_NIF", "NIF 54362315K"),
    ("IT_FISCAL_CODE", "CF RCCMNL83S18D969H"),
    ("CH_AHV", "AHV 756.9217.0769.85"),
    ("GB_NINO", "NINO AB 12 34 56 C"),
]

NOT_FOUND = [
    "k9-ade4111111111111111e6d2a82a64a3",  # a card-valid digit run inside a hex id
    "4111111111111112",  # fails the Luhn check
    "DE89 3704 0044 0532 0130 01",  # fails mod 97
    "purchase order 4500000001, vendor 0000100001, item 00010",
    "2026-11-02T10:15:30Z 1700000000123",
    "trace 4bf92f3577b34da6a3ce929d0e0e4736 span 00f067aa0ba902b7",
    "000-12-3456",  # SSN area 000 is never issued
    "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "amount 24000.00 EUR, quantity 12345678901",  # 11 digits, but no valid tax id
    "user@localhost",
]


@pytest.mark.parametrize(("entity", "text"), FOUND, ids=[f"{e}-{i}" for i, (e, _) in enumerate(FOUND)])
def test_each_recognizer_finds_a_valid_example(entity: str, text: str) -> None:
    spans = Detector(expand(["IBAN", "CREDIT_CARD", "EMAIL", "PHONE", "NATIONAL_ID", "TAX_ID"])).find(text)
    assert [span.entity for span in spans] == [entity], spans


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_found(text: str) -> None:
    detector = Detector(expand(["IBAN", "CREDIT_CARD", "EMAIL", "PHONE", "NATIONAL_ID", "TAX_ID"]))
    assert detector.find(text) == []


def test_masking_replaces_each_entity_with_its_name_and_counts_it() -> None:
    counts: dict[str, int] = {}
    text = Detector(["IBAN", "EMAIL"]).mask("IBAN DE89370400440532013000, mail a@b.de and c@d.de", counts)
    assert text == "IBAN [IBAN], mail [EMAIL] and [EMAIL]"
    assert counts == {"IBAN": 1, "EMAIL": 2}


def test_an_unknown_entity_is_named() -> None:
    with pytest.raises(ValueError, match="unknown entity 'PASSPORT'"):
        expand(["IBAN", "PASSPORT"])
