"""Screening over the corpus: every published poisoning sample is found, and nothing in the
benign set, the stubs' tool descriptions or the stubs' normal results is; the detectors find
nothing in the stubs' results outside the fields that hold bank, tax and contact data."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.inspect.corpus_rates import (
    benign,
    detector_false_positives,
    findings,
    poisoned,
    result_texts,
    screening_rates,
    stub_descriptions,
)
from tests.inspect.stub_results import stub_results


@pytest.mark.parametrize("sample", poisoned(), ids=lambda s: s["source"][:60])
def test_every_poisoned_sample_is_found_but_the_known_misses(sample: dict[str, Any]) -> None:
    # A known miss that starts being found is good news: drop its known_miss mark.
    assert bool(findings(sample["text"])) is not sample.get("known_miss", False)


async def test_no_false_positives_on_clean_text_and_stub_results(tmp_path: Path) -> None:
    results = await stub_results(str(tmp_path))
    clean = benign() + stub_descriptions() + result_texts(results)
    rates = screening_rates(clean)
    assert rates.false_alarms == []
    assert rates.detected == len([s for s in poisoned() if not s.get("known_miss")])
    scanned, wrong, what = detector_false_positives(results)
    assert wrong == 0
    assert scanned > 300
    assert what == []
