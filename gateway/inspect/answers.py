"""Every answer an agent gets from a backend, as result rules see it. A tool's result is
inspected as it is. The other answers that reach the agent's model are inspected as the
text blocks of a result, one per place that holds text:

- a prompt (`prompts/get`): its description, the text of each message, and the text of
  each embedded resource;
- a resource read (`resources/read`): the text of each content;
- a completion (`completion/complete`): each value.

A block holding JSON is parsed, so field paths reach into it as into a tool's text. Binary
content (blobs, images, audio) is not inspected. Notes (what was truncated or stripped)
travel as a prompt's last message or a resource's last content; a completion gets none (a
note would be offered as a value), the audit record says what was done. Subscriptions
answer nothing, and what an agent answers an upstream (sampling, elicitation) is not an
answer to the agent: those kinds are not inspected.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from typing import Any, TypeVar, cast

from pydantic import BaseModel

from gateway.audit.canonical import canonical_json, sha256_hex
from gateway.inspect.apply import Inspected, Outcome, inspect_result
from gateway.inspect.rule import ResultRule
from gateway.models import RequestKind, ToolResult

log = logging.getLogger(__name__)

T = TypeVar("T")
#: A place that holds text: (the object or list holding it, its key or index).
Slot = tuple[Any, Any]


def _content_slots(content: Any) -> list[Slot]:
    """A prompt message's text, or the text of a resource embedded in it."""
    if isinstance(content, list):
        return [slot for block in content for slot in _content_slots(block)]
    if not isinstance(content, dict):
        return []
    if content.get("type") == "text" and isinstance(content.get("text"), str):
        return [(content, "text")]
    resource = content.get("resource")
    if content.get("type") == "resource" and isinstance(resource, dict) and isinstance(resource.get("text"), str):
        return [(resource, "text")]
    return []


def _prompt_slots(data: dict[str, Any]) -> list[Slot]:
    slots: list[Slot] = [(data, "description")] if isinstance(data.get("description"), str) else []
    for message in data.get("messages") or []:
        slots += _content_slots(message.get("content"))
    return slots


def _resource_slots(data: dict[str, Any]) -> list[Slot]:
    return [(content, "text") for content in data.get("contents") or [] if isinstance(content.get("text"), str)]


def _completion_slots(data: dict[str, Any]) -> list[Slot]:
    values = (data.get("completion") or {}).get("values") or []
    return [(values, index) for index, value in enumerate(values) if isinstance(value, str)]


def _prompt_notes(data: dict[str, Any], notes: list[str]) -> None:
    data.setdefault("messages", []).extend({"role": "user", "content": {"type": "text", "text": n}} for n in notes)


def _resource_notes(data: dict[str, Any], notes: list[str]) -> None:
    contents = data.setdefault("contents", [])
    uri = contents[0]["uri"] if contents else "gateway:note"
    contents.extend({"uri": uri, "mimeType": "text/plain", "text": note} for note in notes)


def _no_notes(data: dict[str, Any], notes: list[str]) -> None:
    return None


Shape = tuple[Callable[[dict[str, Any]], list[Slot]], Callable[[dict[str, Any], list[str]], None]]
#: Where each inspected kind keeps its text, and where notes go.
SHAPES: dict[RequestKind, Shape] = {
    RequestKind.PROMPT: (_prompt_slots, _prompt_notes),
    RequestKind.RESOURCE: (_resource_slots, _resource_notes),
    RequestKind.PROMPT_COMPLETION: (_completion_slots, _no_notes),
    RequestKind.RESOURCE_COMPLETION: (_completion_slots, _no_notes),
}


def inspected_kind(kind: RequestKind) -> bool:
    """Whether answers of this kind pass through the result rules."""
    return kind is RequestKind.TOOL or kind in SHAPES


def inspect_answer(kind: RequestKind, rules: tuple[ResultRule, ...], answer: T) -> tuple[T, Inspected]:
    """What the agent gets of `answer` under `rules`, and what the rules did. An answer of
    another kind than a tool's is a pydantic model (the MCP result) or its JSON form."""
    if isinstance(answer, ToolResult):
        inspected = inspect_result(rules, answer)
        return cast(T, inspected.result), inspected
    try:
        return _inspect_shaped(SHAPES[kind], rules, answer)
    except Exception as exc:  # the backend has answered; what is not inspected does not reach the agent
        log.exception("inspection of a %s answer failed", kind.value)
        outcome = Outcome(rules=[rule.location for rule in rules])
        outcome.withheld = f"the answer was withheld: it could not be inspected ({type(exc).__name__})"
        return answer, Inspected(ToolResult(content=()), outcome)


def _inspect_shaped(shape: Shape, rules: tuple[ResultRule, ...], answer: T) -> tuple[T, Inspected]:
    find_slots, add_notes = shape
    data: Any = (
        answer.model_dump(mode="json", by_alias=True, exclude_none=True)
        if isinstance(answer, BaseModel)
        else copy.deepcopy(answer)
    )
    if not isinstance(data, dict):
        raise TypeError(f"expected a JSON object, got {type(data).__name__}")
    slots = find_slots(data)
    view = ToolResult(content=tuple({"type": "text", "text": holder[key]} for holder, key in slots))
    inspected = inspect_result(rules, view)
    if inspected.outcome.withheld is not None or inspected.delivered_digest is None:  # withheld, or unchanged
        return answer, inspected
    delivered = [str(block.get("text", "")) for block in inspected.result.content]
    for (holder, key), text in zip(slots, delivered, strict=False):
        holder[key] = text
    add_notes(data, delivered[len(slots) :])
    digest = sha256_hex(canonical_json(data))
    rebuilt = type(answer).model_validate(data) if isinstance(answer, BaseModel) else data
    return cast(T, rebuilt), Inspected(inspected.result, inspected.outcome, digest)
