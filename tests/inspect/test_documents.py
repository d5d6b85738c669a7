"""A result as documents: the JSON text that is the structured content is parsed once (by
orjson when that gives the very same value) and shared; what orjson reads differently
takes the standard parser."""

from __future__ import annotations

import json
from typing import Any

from gateway.inspect.apply import inspect_result
from gateway.inspect.documents import Documents
from gateway.models import ToolResult
from gateway.policy.result_rules import parse_result_rules

REDACT_NOTE = tuple(parse_result_rules("r.csv", "result, *, *, *, redact, **.note, -\n"))


def result_of(data: Any, text: str | None = None) -> ToolResult:
    text = json.dumps(data, ensure_ascii=False) if text is None else text
    return ToolResult(content=({"type": "text", "text": text},), structured=json.loads(json.dumps(data)))


def test_the_text_of_the_structured_content_is_one_shared_document() -> None:
    docs = Documents(result_of({"rows": [{"id": 1, "note": "x", "rate": 0.25}]}))
    assert docs.shared == 0 and docs.structured is docs.texts[0]


def test_integers_beyond_64_bits_stay_integers_in_text_and_structured_content() -> None:
    data = {"id": 2**64, "low": -(2**63) - 1, "note": "secret"}
    done = inspect_result(REDACT_NOTE, result_of(data))
    text = done.result.content[0]["text"]
    assert text == '{"id": 18446744073709551616, "low": -9223372036854775809, "note": "[REDACTED]"}'
    assert done.result.structured == {**data, "note": "[REDACTED]"}
    assert type(done.result.structured["id"]) is int


def test_a_text_in_another_key_order_is_still_the_structured_content() -> None:
    docs = Documents(result_of({"a": 1, "note": "x"}, text='{"note": "x", "a": 1}'))
    assert docs.shared == 0


def test_nesting_deeper_than_orjson_writes_is_parsed_all_the_same() -> None:
    deep: Any = {"note": "secret"}
    for _ in range(300):
        deep = {"next": deep}
    result = ToolResult(content=({"type": "text", "text": json.dumps(deep)},), structured={"other": 1})
    done = inspect_result(REDACT_NOTE, result)
    assert done.outcome.withheld is None and done.outcome.redacted == {"**.note": 1}
    assert "secret" not in done.result.content[0]["text"]
