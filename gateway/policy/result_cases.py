"""Policy test cases about results: a case may give the backend's answer (`result`) and say
what the agent must get (`expect_result`). The answer is a tool's JSON result, or for a
prompt, a resource read or a completion (`tool: prompts/conf.x`, `resources/conf.URI`) the
MCP answer's JSON (`{messages: [...]}`, `{contents: [...]}`, `{completion: {values: [...]}}`)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.inspect.answers import inspect_answer
from gateway.inspect.apply import Inspected, inspect_result
from gateway.models import Principal, RequestKind, ToolResult
from gateway.policy.result_select import ResultRuleSelector

_KEYS = {"rules", "redacted", "masked", "screened", "truncated", "withheld", "held", "contains", "excludes"}
#: Yes-or-no expectations: what the rule did, and the words the failure uses.
_FLAGS = {
    "truncated": ("truncated", "not truncated"),
    "withheld": ("withheld", "delivered"),
    "held": ("held for review", "not held"),
}


@dataclass(frozen=True, slots=True)
class ResultExpectation:
    #: The backend's answer, sent as JSON text and as structured content.
    result: Mapping[str, Any]
    expected: Mapping[str, Any]


def parse_expectation(raw: Mapping[str, Any]) -> ResultExpectation | None:
    """From a case's `result` and `expect_result` keys; ValueError saying what is wrong."""
    if "result" not in raw and "expect_result" not in raw:
        return None
    result, expected = raw.get("result"), raw.get("expect_result", {})
    if not isinstance(result, dict):
        raise ValueError("result must be a mapping (the backend's JSON answer)")
    if not isinstance(expected, dict):
        raise ValueError("expect_result must be a mapping")
    unknown = sorted(set(expected) - _KEYS)
    if unknown:
        raise ValueError(f"unknown expect_result key {unknown[0]!r} (known: {', '.join(sorted(_KEYS))})")
    for key in ("contains", "excludes", "rules"):
        if not isinstance(expected.get(key, []), list):
            raise ValueError(f"expect_result.{key} must be a list")
    return ResultExpectation(result, expected)


def answer_kind(connector: str, result: Mapping[str, Any]) -> RequestKind | None:
    """The kind of request a case's `result` answers, from the case's object: a tool's
    (`sap.x`), a prompt's or resource's (`prompts/conf.x`, `resources/conf.URI`), or a
    completion's when it holds `completion`. None for the kinds whose answers are not inspected."""
    namespace, slash, _ = connector.partition("/")
    if not slash:
        return RequestKind.TOOL
    completes = "completion" in result
    if namespace == "prompts":
        return RequestKind.PROMPT_COMPLETION if completes else RequestKind.PROMPT
    if namespace == "resources":
        return RequestKind.RESOURCE_COMPLETION if completes else RequestKind.RESOURCE
    return None


def inspect_case(
    selector: ResultRuleSelector, principal: Principal, connector: str, tool: str, expectation: ResultExpectation
) -> Inspected:
    """The case's answer through the rules for its caller and object: a tool's as JSON text
    and structured content, another kind's as the MCP answer it is (gateway.inspect.answers)."""
    rules = selector.for_call(principal, connector, tool)
    kind = answer_kind(connector, expectation.result)
    if kind is not RequestKind.TOOL:
        assert kind is not None, "cases.py refuses a result for a kind that is not inspected"
        return inspect_answer(kind, rules, dict(expectation.result))[1]
    text = json.dumps(expectation.result, ensure_ascii=False)
    result = ToolResult(content=({"type": "text", "text": text},), structured=json.loads(text))
    return inspect_result(rules, result)


def result_failures(inspected: Inspected, expected: Mapping[str, Any]) -> list[str]:
    """What differs from the expectation, one phrase each."""
    outcome = inspected.outcome
    failures: list[str] = []
    if "rules" in expected and list(expected["rules"]) != outcome.rules:
        failures.append(f"expected result rules {expected['rules']}, got {outcome.rules}")
    for key in ("redacted", "masked", "screened"):
        if key in expected and dict(expected[key]) != getattr(outcome, key):
            failures.append(f"expected {key} {expected[key]}, got {getattr(outcome, key)}")
    for key, (yes, no) in _FLAGS.items():
        if key in expected and bool(expected[key]) != bool(getattr(outcome, key)):
            failures.append(f"expected the result {yes if expected[key] else no}")
    delivered = "\n".join(str(block.get("text", "")) for block in inspected.result.content)
    if outcome.withheld is not None or outcome.held is not None:
        delivered = ""  # the agent gets nothing now (a held result only once a reviewer releases it)
    for text in expected.get("contains", []):
        if str(text) not in delivered:
            failures.append(f"expected the delivered result to contain {text!r}")
    for text in expected.get("excludes", []):
        if str(text) in delivered:
            failures.append(f"expected the delivered result not to contain {text!r}")
    return failures
