"""The SAP stub's entity model and seed data: purchase orders with items, suppliers
(vendors) and supplier invoices, shaped like the SAP API_PURCHASEORDER_SRV entity types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

CURRENCIES = frozenset({"EUR", "USD", "GBP", "CHF", "JPY"})


@dataclass(frozen=True, slots=True)
class EntitySet:
    name: str
    key: str
    fields: tuple[str, ...]
    #: Edm.Decimal fields: held as Decimal, sent as strings with two decimals, as SAP does.
    decimals: frozenset[str] = frozenset()
    #: Navigation property -> (target entity set, field of the target holding our key).
    navigation: Mapping[str, tuple[str, str]] = field(default_factory=dict)


ENTITY_SETS: dict[str, EntitySet] = {
    s.name: s
    for s in (
        EntitySet(
            "A_PurchaseOrder",
            "PurchaseOrder",
            (
                "PurchaseOrder",
                "Supplier",
                "CompanyCode",
                "DocumentCurrency",
                "NetAmount",
                "Description",
                "ReleaseStatus",
                "CreatedByUser",
                "CreationDate",
            ),
            frozenset({"NetAmount"}),
            {
                "to_PurchaseOrderItem": ("A_PurchaseOrderItem", "PurchaseOrder"),
                "to_SupplierInvoice": ("A_SupplierInvoice", "PurchaseOrder"),
            },
        ),
        EntitySet(
            "A_PurchaseOrderItem",
            "PurchaseOrderItem",
            ("PurchaseOrder", "PurchaseOrderItem", "Material", "OrderQuantity", "NetPriceAmount"),
            frozenset({"NetPriceAmount", "OrderQuantity"}),
        ),
        EntitySet(
            "A_Supplier",
            "Supplier",
            # Bank and tax fields are flattened from A_SupplierBank and the tax numbers, so
            # that the shipped result rules have something to mask.
            ("Supplier", "SupplierName", "Country", "CityName", "IsBlocked", "TaxNumber1", "IBAN", "BankAccount"),
            navigation={"to_PurchaseOrder": ("A_PurchaseOrder", "Supplier")},
        ),
        EntitySet(
            "A_SupplierInvoice",
            "SupplierInvoice",
            ("SupplierInvoice", "PurchaseOrder", "InvoiceAmount", "DocumentCurrency", "PostingDate", "CreatedByUser"),
            frozenset({"InvoiceAmount"}),
        ),
    )
}

_SUPPLIERS = [
    (
        "0000100001",
        "Acme Industrial Supplies",
        "DE",
        "Hamburg",
        False,
        "27/273/01234",
        "DE89370400440532013000",
        "0532013000",
    ),
    ("0000100002", "Nordic Office GmbH", "DE", "Berlin", False, "21/815/08150", "DE02100500000024290661", "0024290661"),
    ("0000100003", "Globex Components", "US", "Chicago", False, "36-4512773", "", "4821903312"),
    ("0000100004", "Initech Services Ltd", "GB", "London", False, "1234567890", "GB29NWBK60161331926819", "31926819"),
    ("0000100005", "Umbrella Logistics", "CH", "Basel", True, "CHE-116.281.710", "CH9300762011623852957", "162385295"),
    ("0000100006", "O'Brien & Sons", "US", "Boston", False, "04-2103594", "", "7730021945"),
]
_ORDERS = [
    ("4500000001", "0000100001", "EUR", "1250.00", "Safety helmets", "RELEASED"),
    ("4500000002", "0000100001", "EUR", "18400.00", "Conveyor spare parts", "NOT_RELEASED"),
    ("4500000003", "0000100002", "EUR", "310.50", "Printer paper", "NOT_RELEASED"),
    ("4500000004", "0000100003", "USD", "99000.00", "Control units", "RELEASED"),
    ("4500000005", "0000100004", "GBP", "4800.00", "Maintenance contract", "RELEASED"),
    ("4500000006", "0000100006", "USD", "720.00", "Workshop tools", "NOT_RELEASED"),
]

#: Orders of the US company code; all others belong to 1010.
_COMPANY_CODES = {"4500000006": "2000"}


def seed() -> dict[str, list[dict[str, Any]]]:
    """A fresh copy of the seed data (each stub app owns its own)."""
    orders = [
        {
            "PurchaseOrder": po,
            "Supplier": supplier,
            "CompanyCode": _COMPANY_CODES.get(po, "1010"),
            "DocumentCurrency": currency,
            "NetAmount": Decimal(amount),
            "Description": text,
            "ReleaseStatus": status,
            "CreatedByUser": "SEED",
            "CreationDate": "2026-11-02",
        }
        for po, supplier, currency, amount, text, status in _ORDERS
    ]
    items = [
        {
            "PurchaseOrder": order["PurchaseOrder"],
            "PurchaseOrderItem": f"{n * 10:05d}",
            "Material": f"MAT-{index:03d}{n}",
            "OrderQuantity": Decimal(n * 5),
            "NetPriceAmount": (Decimal(str(order["NetAmount"])) / 2).quantize(Decimal("0.01")),
        }
        for index, order in enumerate(orders, start=1)
        for n in (1, 2)
    ]
    suppliers = [
        {
            "Supplier": s,
            "SupplierName": name,
            "Country": country,
            "CityName": city,
            "IsBlocked": blocked,
            "TaxNumber1": tax,
            "IBAN": iban,
            "BankAccount": account,
        }
        for s, name, country, city, blocked, tax, iban, account in _SUPPLIERS
    ]
    invoices = [
        {
            "SupplierInvoice": "5105600001",
            "PurchaseOrder": "4500000001",
            "InvoiceAmount": Decimal("1250.00"),
            "DocumentCurrency": "EUR",
            "PostingDate": "2026-11-10",
            "CreatedByUser": "SEED",
        }
    ]
    return {
        "A_PurchaseOrder": orders,
        "A_PurchaseOrderItem": items,
        "A_Supplier": suppliers,
        "A_SupplierInvoice": invoices,
    }
