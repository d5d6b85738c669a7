from __future__ import annotations

from gateway.models import qualified_name, split_qualified_name


def test_qualified_names_round_trip() -> None:
    assert qualified_name("sap", "search_orders") == "sap.search_orders"
    assert split_qualified_name("sap.search_orders") == ("sap", "search_orders")
    # The tool part may itself contain the separator; the connector part never does.
    assert split_qualified_name("mcp.ns.tool") == ("mcp", "ns.tool")


def test_unqualified_names_are_rejected() -> None:
    assert split_qualified_name("search_orders") is None
    assert split_qualified_name(".x") is None
    assert split_qualified_name("x.") is None
