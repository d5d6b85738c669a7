"""The SAP connector's tools and the JSON Schemas the gateway validates arguments against."""

from __future__ import annotations

from connectors.schemas import arguments_schema
from gateway.models import Compensation, ToolSpec

PURCHASE_ORDER_ID = {"type": "string", "pattern": "^[0-9]{10}$", "description": "Purchase order number, 10 digits"}
SUPPLIER_ID = {"type": "string", "pattern": "^[0-9]{10}$", "description": "Vendor (supplier) number, 10 digits"}
#: Cents are the smallest unit the backend books (2 decimals, as in SAP's CURR fields).
CENTS = 0.01
AMOUNT = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": 99_999_999_999.99,
    "multipleOf": CENTS,
    "description": "Amount in the currency, at most 2 decimals",
}
CURRENCY = {"type": "string", "pattern": "^[A-Z]{3}$", "description": "ISO 4217 currency code, e.g. EUR"}
TOP = {"type": "integer", "minimum": 1, "maximum": 100, "default": 20}
SKIP = {"type": "integer", "minimum": 0, "maximum": 100_000, "default": 0}


#: A created purchase order is taken back by cancelling it (the number from the result).
CANCEL_CREATED = Compensation("cancel_purchase_order", {"purchase_order_id": "result.purchase_order.PurchaseOrder"})


def tool_specs(connector: str, *, test_run: bool = False) -> list[ToolSpec]:
    """`test_run`: the service honours the test-run header, so writes can be simulated."""
    return [
        ToolSpec(
            connector,
            "search_purchase_orders",
            "Search purchase orders by vendor, release status, currency and amount range.",
            arguments_schema(
                {
                    "vendor_id": SUPPLIER_ID,
                    "status": {"enum": ["RELEASED", "NOT_RELEASED", "CANCELLED"]},
                    "currency": CURRENCY,
                    "min_amount": {"type": "number", "minimum": 0, "multipleOf": CENTS},
                    "max_amount": {"type": "number", "minimum": 0, "multipleOf": CENTS},
                    "description_contains": {"type": "string", "minLength": 1, "maxLength": 120},
                    "order_by": {
                        "enum": ["PurchaseOrder", "NetAmount", "CreationDate", "Supplier"],
                        "default": "PurchaseOrder",
                    },
                    "descending": {"type": "boolean", "default": False},
                    "top": TOP,
                    "skip": SKIP,
                }
            ),
            read_only=True,
            title="Search purchase orders",
        ),
        ToolSpec(
            connector,
            "get_purchase_order",
            "Read one purchase order with its items and invoices.",
            arguments_schema({"purchase_order_id": PURCHASE_ORDER_ID}, ("purchase_order_id",)),
            read_only=True,
            title="Get purchase order",
        ),
        ToolSpec(
            connector,
            "search_vendors",
            "Search vendors by name and country.",
            arguments_schema(
                {
                    "name_contains": {"type": "string", "minLength": 1, "maxLength": 80},
                    "country": {"type": "string", "pattern": "^[A-Z]{2}$"},
                    "top": TOP,
                    "skip": SKIP,
                }
            ),
            read_only=True,
            title="Search vendors",
        ),
        ToolSpec(
            connector,
            "create_purchase_order",
            "Create a purchase order (not yet released) for a vendor.",
            arguments_schema(
                {
                    "vendor_id": SUPPLIER_ID,
                    "amount": AMOUNT,
                    "currency": CURRENCY,
                    "description": {"type": "string", "minLength": 1, "maxLength": 120},
                },
                ("vendor_id", "amount", "currency", "description"),
            ),
            title="Create purchase order",
            simulates=test_run,
            compensation=CANCEL_CREATED,
        ),
        ToolSpec(
            connector,
            "release_purchase_order",
            "Release (approve) a purchase order so it can be invoiced.",
            arguments_schema({"purchase_order_id": PURCHASE_ORDER_ID}, ("purchase_order_id",)),
            title="Release purchase order",
            simulates=test_run,
        ),
        ToolSpec(
            connector,
            "cancel_purchase_order",
            "Cancel a purchase order nothing was invoiced against (sets its deletion indicator).",
            arguments_schema({"purchase_order_id": PURCHASE_ORDER_ID}, ("purchase_order_id",)),
            title="Cancel purchase order",
            simulates=test_run,
        ),
        ToolSpec(
            connector,
            "post_invoice",
            "Post a vendor invoice against a released purchase order.",
            arguments_schema(
                {"purchase_order_id": PURCHASE_ORDER_ID, "amount": AMOUNT, "currency": CURRENCY},
                ("purchase_order_id", "amount", "currency"),
            ),
            title="Post invoice",
            simulates=test_run,
        ),
    ]
