"""Records as the host sees them: EBCDIC (code page 037) text, zoned and packed decimals,
laid out by a copybook. `encode` checks every value against its PIC clause first, so a
value the host would truncate or reject never leaves the gateway."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from connectors.mainframe.copybook import Encoding, Field, Layout
from gateway.errors import InvalidInput

CODEPAGE = "cp037"
EBCDIC_SPACE = b"\x40"
_NUMBER = re.compile(r"^[+-]?\d+(\.\d+)?$")


class RecordError(InvalidInput):
    """A value does not fit its field, or host data is not valid for its PIC; names the field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _number(field: Field, value: Any) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal | str):
        raise RecordError(f"{field.name}: not numeric ({type(value).__name__}), PIC {field.picture}")
    text = repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str) and not _NUMBER.match(text):
        raise RecordError(f"{field.name}: not numeric: {value!r}, PIC {field.picture}")
    number = Decimal(text)
    if not number.is_finite():
        raise RecordError(f"{field.name}: not numeric: {value!r}, PIC {field.picture}")
    if number < 0 and not field.signed:
        raise RecordError(f"{field.name}: {value} is negative, PIC {field.picture} is unsigned")
    if number != number.quantize(Decimal(1).scaleb(-field.scale)):
        places = -int(number.normalize().as_tuple().exponent)
        raise RecordError(
            f"{field.name}: {value} has {places} decimal places, PIC {field.picture} allows {field.scale}"
        )
    bound = Decimal(10) ** (field.digits - field.scale) - Decimal(1).scaleb(-field.scale)
    if abs(number) > bound:
        low = -bound if field.signed else 0
        raise RecordError(f"{field.name}: {value} is out of range for PIC {field.picture} ({low} .. {bound})")
    return number


def _encode_field(field: Field, value: Any) -> bytes:
    if field.encoding is Encoding.TEXT:
        if not isinstance(value, str):
            raise RecordError(f"{field.name}: expected text, got {type(value).__name__}")
        if len(value) > field.length:
            raise RecordError(
                f"{field.name}: too long: {len(value)} characters, PIC {field.picture} holds {field.length}"
            )
        try:
            data = value.encode(CODEPAGE)
        except UnicodeEncodeError as exc:
            raise RecordError(
                f"{field.name}: character {value[exc.start]!r} has no EBCDIC (code page 037) form"
            ) from None
        return data + EBCDIC_SPACE * (field.length - len(data))
    number = _number(field, value)
    unscaled = int(number.scaleb(field.scale))
    if field.encoding is Encoding.BINARY:
        return unscaled.to_bytes(field.length, "big", signed=True)
    digits = str(abs(unscaled)).zfill(field.digits)
    if field.encoding is Encoding.ZONED:
        zone = (0xD0 if unscaled < 0 else 0xC0) if field.signed else 0xF0
        return bytes(0xF0 | int(d) for d in digits[:-1]) + bytes([zone | int(digits[-1])])
    sign = (0xD if unscaled < 0 else 0xC) if field.signed else 0xF
    nibbles = digits.zfill(field.length * 2 - 1)
    packed = [int(nibbles[i]) << 4 | int(nibbles[i + 1]) for i in range(0, len(nibbles) - 1, 2)]
    return bytes([*packed, int(nibbles[-1]) << 4 | sign])


def _decode_field(field: Field, data: bytes) -> Any:
    if field.encoding is Encoding.TEXT:
        return data.decode(CODEPAGE).rstrip(" ")
    if field.encoding is Encoding.BINARY:
        unscaled = int.from_bytes(data, "big", signed=True)
    elif field.encoding is Encoding.ZONED:
        zones = [b >> 4 for b in data]
        digits = [b & 0x0F for b in data]
        if any(z != 0xF for z in zones[:-1]) or zones[-1] not in (0xF, 0xC, 0xD) or any(d > 9 for d in digits):
            raise RecordError(f"{field.name}: invalid zoned decimal data {data.hex()}")
        unscaled = int("".join(map(str, digits))) * (-1 if zones[-1] == 0xD else 1)
    else:
        nibbles = [n for b in data for n in (b >> 4, b & 0x0F)]
        *digits, sign = nibbles
        if any(d > 9 for d in digits) or sign not in (0xA, 0xB, 0xC, 0xD, 0xE, 0xF):
            raise RecordError(f"{field.name}: invalid packed decimal data {data.hex()}")
        unscaled = int("".join(map(str, digits))) * (-1 if sign in (0xB, 0xD) else 1)
    return unscaled if field.scale == 0 else Decimal(unscaled).scaleb(-field.scale)


def encode(layout: Layout, values: Mapping[str, Any]) -> bytes:
    """The record with `values` (by copybook name) filled in; other fields are spaces or zero."""
    unknown = set(values) - {f.name for f in layout.fields}
    if unknown:
        raise RecordError(f"{sorted(unknown)[0]}: no such field in {layout.name}")
    record = bytearray()
    for field in layout.fields:
        try:
            record += _encode_field(field, values.get(field.name, 0 if field.numeric else ""))
        except RecordError as exc:
            raise RecordError(str(exc), field.name) from None
    return bytes(record)


def decode(layout: Layout, record: bytes) -> dict[str, Any]:
    if len(record) != layout.length:
        raise RecordError(f"{layout.name}: record is {len(record)} bytes, the copybook says {layout.length}")
    return {
        f.name: _decode_field(f, record[f.offset : f.offset + f.length]) for f in layout.fields if f.name != "FILLER"
    }
