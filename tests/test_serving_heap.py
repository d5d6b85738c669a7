"""After start-up the serving process's heap is frozen and young collections are rarer."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from gateway.serving import YOUNG_COLLECTION_THRESHOLD, settle_heap


@pytest.fixture
def restored_gc() -> Iterator[None]:
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restored_gc")
def test_settle_heap_freezes_what_start_up_built_and_raises_the_young_threshold() -> None:
    built = [{"start-up": i} for i in range(1000)]
    settle_heap()
    assert gc.get_freeze_count() >= len(built)
    assert gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD
    # Garbage cycles made later are still collected.
    cycle: list[object] = []
    cycle.append(cycle)
    del cycle
    assert gc.collect() >= 1
