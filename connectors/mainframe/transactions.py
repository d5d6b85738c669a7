"""The host transactions the mainframe connector offers as tools: which copybook lays out
the COMMAREA, which fields the agent fills in, and which come back. The JSON Schema of each
tool is derived from the PIC clauses, so the gateway refuses a bad value before the
connector even encodes it."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from connectors.mainframe.copybook import Field, Layout, load_copybook
from connectors.schemas import arguments_schema
from gateway.models import Compensation

COPYBOOKS = Path(str(resources.files("connectors.mainframe") / "copybooks"))


@dataclass(frozen=True, slots=True)
class Param:
    """One JSON property and the copybook field it maps to."""

    name: str
    field: str
    description: str = ""
    #: Narrows the PIC-derived schema (e.g. a transfer amount must be positive).
    schema: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Transaction:
    tool: str
    tran_id: str
    copybook: str
    description: str
    read_only: bool
    inputs: tuple[Param, ...]
    outputs: tuple[Param, ...]
    #: Field holding the program's return code (0 is success) and, optionally, its message.
    return_code: str
    message: str | None = None
    #: Meaning of return codes for programs without a message field.
    errors: Mapping[int, str] = dataclasses.field(default_factory=dict)
    #: The validate-only twin (same COMMAREA, checks everything, posts nothing): dry runs.
    validate_tran_id: str | None = None
    #: The transaction that takes a successful one back (undo).
    compensation: Compensation | None = None


TRANSACTIONS = (
    Transaction(
        tool="account_inquiry",
        tran_id="AINQ",
        copybook="ACCTINQ.cpy",
        read_only=True,
        description="Read an account's holder, status, balance, credit limit and interest rate.",
        inputs=(Param("account_number", "AI-ACCOUNT-NUMBER", "10-digit account number"),),
        outputs=(
            Param("account_number", "AI-ACCOUNT-NUMBER"),
            Param("customer_name", "AI-CUSTOMER-NAME"),
            Param("status", "AI-ACCOUNT-STATUS"),
            Param("balance", "AI-BALANCE"),
            Param("credit_limit", "AI-CREDIT-LIMIT"),
            Param("available", "AI-AVAILABLE"),
            Param("interest_rate", "AI-INTEREST-RATE"),
            Param("last_transaction_date", "AI-LAST-TXN-DATE"),
        ),
        return_code="AI-RETURN-CODE",
        errors={10: "account not found"},
    ),
    Transaction(
        tool="funds_transfer",
        tran_id="XFER",
        copybook="XFERFND.cpy",
        read_only=False,
        description="Transfer funds between two accounts; returns both new balances and a confirmation.",
        inputs=(
            Param("from_account", "XF-FROM-ACCOUNT", "account debited"),
            Param("to_account", "XF-TO-ACCOUNT", "account credited"),
            Param("amount", "XF-AMOUNT", "amount to move", {"exclusiveMinimum": 0}),
            Param("reference", "XF-REFERENCE", "free text shown on both statements"),
        ),
        outputs=(
            Param("confirmation", "XF-CONFIRMATION"),
            Param("from_balance", "XF-FROM-BALANCE"),
            Param("to_balance", "XF-TO-BALANCE"),
            Param("message", "XF-MESSAGE"),
        ),
        return_code="XF-RETURN-CODE",
        message="XF-MESSAGE",
        validate_tran_id="XFEV",
        compensation=Compensation("funds_transfer_reversal", {"confirmation": "result.confirmation"}),
    ),
    Transaction(
        tool="funds_transfer_reversal",
        tran_id="XREV",
        copybook="XREVFND.cpy",
        read_only=False,
        description="Reverse a funds transfer by its confirmation: the amount moves back; returns both balances.",
        inputs=(Param("confirmation", "XR-CONFIRMATION", "confirmation of the transfer to reverse"),),
        outputs=(
            Param("reversal", "XR-REVERSAL"),
            Param("amount", "XR-AMOUNT"),
            Param("from_balance", "XR-FROM-BALANCE"),
            Param("to_balance", "XR-TO-BALANCE"),
            Param("message", "XR-MESSAGE"),
        ),
        return_code="XR-RETURN-CODE",
        message="XR-MESSAGE",
        validate_tran_id="XRVV",
    ),
)


def field_schema(f: Field) -> dict[str, Any]:
    """The JSON Schema of values that fit field `f`."""
    if not f.numeric:
        return {"type": "string", "maxLength": f.length, "description": f"PIC {f.picture}"}
    bound = Decimal(10) ** (f.digits - f.scale) - Decimal(1).scaleb(-f.scale)
    low = -bound if f.signed else Decimal(0)
    if f.scale == 0:
        return {"type": "integer", "minimum": int(low), "maximum": int(bound), "description": f"PIC {f.picture}"}
    return {
        "type": "number",
        "minimum": float(low),
        "maximum": float(bound),
        "multipleOf": float(Decimal(1).scaleb(-f.scale)),
        "description": f"PIC {f.picture}, at most {f.scale} decimal places",
    }


def input_schema(transaction: Transaction, layout: Layout) -> dict[str, Any]:
    properties = {}
    for p in transaction.inputs:
        schema = {**field_schema(layout.field(p.field)), **p.schema}
        if p.description:
            schema["description"] = f"{p.description} ({schema['description']})"
        properties[p.name] = schema
    return arguments_schema(properties, [p.name for p in transaction.inputs])


def load_layouts(directory: Path = COPYBOOKS) -> dict[str, Layout]:
    """Each transaction's COMMAREA layout, checked against the fields the tool maps."""
    layouts = {}
    for t in TRANSACTIONS:
        layout = load_copybook(directory / t.copybook)
        for p in (*t.inputs, *t.outputs):
            layout.field(p.field)
        layout.field(t.return_code)
        layouts[t.tool] = layout
    return layouts
