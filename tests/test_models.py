from __future__ import annotations

import pytest

from gateway.models import Principal, RequestKind, ToolCall, qualified_name, split_qualified_name


def test_qualified_names_round_trip() -> None:
    assert qualified_name("sap", "search_orders") == "sap.search_orders"
    assert split_qualified_name("sap.search_orders") == ("sap", "search_orders")
    # The tool part may itself contain the separator; the connector part never does.
    assert split_qualified_name("mcp.ns.tool") == ("mcp", "ns.tool")


def test_unqualified_names_are_rejected() -> None:
    assert split_qualified_name("search_orders") is None
    assert split_qualified_name(".x") is None
    assert split_qualified_name("x.") is None


def test_every_front_door_builds_a_request_the_same_way() -> None:
    agent = Principal("agent-1", ("tester",), tenant="acme")
    traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    first = ToolCall.new(agent, "sap", "search", {}, front_door="rest", traceparent=traceparent, client="curl/8")
    second = ToolCall.new(agent, "sap", "search", {}, front_door="mcp", traceparent=None, client=None)
    assert first.call_id != second.call_id
    # The agent's trace goes on, with the gateway's own span as the next hop's parent.
    assert first.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert first.traceparent.startswith("00-4bf92f3577b34da6a3ce929d0e0e4736-") and first.traceparent != traceparent
    assert second.trace_id != first.trace_id
    assert first.kind is RequestKind.TOOL and first.policy_object == "sap.search"


@pytest.mark.parametrize(
    ("kind", "item", "decided_as"),
    [
        (RequestKind.TOOL, "search", "echo.search"),
        (RequestKind.PROMPT, "greet", "prompts/echo.greet"),
        (RequestKind.PROMPT_COMPLETION, "greet", "prompts/echo.greet"),
        (RequestKind.RESOURCE, "test://static", "resources/echo.test://static"),
        (RequestKind.SUBSCRIBE, "test://static", "resources/echo.test://static"),
        (RequestKind.RESOURCE_COMPLETION, "test://t/{id}", "resources/echo.test://t/{id}"),
        (RequestKind.SAMPLING, "summarize", "sampling/echo.summarize"),
        (RequestKind.ELICITATION, "ask", "elicitation/echo.ask"),
    ],
)
def test_each_kind_is_decided_under_its_own_prefix(kind: RequestKind, item: str, decided_as: str) -> None:
    call = ToolCall.new(Principal("a"), "echo", item, {}, front_door="mcp", traceparent=None, client=None, kind=kind)
    assert call.policy_object == decided_as
