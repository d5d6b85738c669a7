"""A COBOL copybook reader: the record layout (name, offset, length, encoding) of every
elementary field, for fixed-width records without OCCURS or REDEFINES.

Supported: level numbers 01-49 with nesting, 88-level condition names (skipped), FILLER,
`PIC`/`PICTURE` with X, A, 9, S, V and repeat counts, and the usages DISPLAY (text and
zoned decimal), COMP-3/PACKED-DECIMAL and COMP/BINARY. Anything else is refused with the
line it is on, rather than producing a layout that silently disagrees with the host.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from pathlib import Path

from gateway.errors import InvalidInput


class CopybookError(InvalidInput):
    """The copybook uses something this reader does not understand; the message says where."""


class Encoding(enum.StrEnum):
    TEXT = "text"  # PIC X / A, EBCDIC characters
    ZONED = "zoned"  # PIC 9 DISPLAY: one digit a byte, sign in the last byte's zone
    PACKED = "packed"  # COMP-3: two digits a byte, sign in the last nibble
    BINARY = "binary"  # COMP: big-endian two's complement


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    offset: int
    length: int
    encoding: Encoding
    picture: str
    #: Numeric fields: total digits, digits after the implied decimal point, sign allowed.
    digits: int = 0
    scale: int = 0
    signed: bool = False

    @property
    def numeric(self) -> bool:
        return self.encoding is not Encoding.TEXT


@dataclass(frozen=True, slots=True)
class Layout:
    name: str
    fields: tuple[Field, ...]
    length: int

    def field(self, name: str) -> Field:
        for field in self.fields:
            if field.name == name:
                return field
        raise KeyError(f"{self.name} has no field {name}")


_PIC_UNIT = re.compile(r"([XA9SV])(?:\((\d+)\))?")
_USAGES = {
    "DISPLAY": None,
    "COMP-3": Encoding.PACKED,
    "COMPUTATIONAL-3": Encoding.PACKED,
    "PACKED-DECIMAL": Encoding.PACKED,
    "COMP": Encoding.BINARY,
    "COMPUTATIONAL": Encoding.BINARY,
    "BINARY": Encoding.BINARY,
    "COMP-4": Encoding.BINARY,
    "COMPUTATIONAL-4": Encoding.BINARY,
}
_UNSUPPORTED = ("OCCURS", "REDEFINES", "RENAMES", "COMP-1", "COMP-2", "SIGN", "JUSTIFIED", "SYNCHRONIZED", "P")


def _picture(name: str, picture: str, usage: Encoding | None, line: int) -> tuple[Encoding, int, int, int, bool]:
    """(encoding, byte length, digits, scale, signed) of one PIC clause."""
    units: list[tuple[str, int]] = []
    pos = 0
    while pos < len(picture):
        match = _PIC_UNIT.match(picture, pos)
        if match is None:
            raise CopybookError(f"line {line}: {name}: unsupported PIC {picture!r}")
        units.append((match[1], int(match[2] or 1)))
        pos = match.end()
    symbols = {s for s, _ in units}
    if symbols & {"X", "A"}:
        if symbols - {"X", "A"} or usage is not None:
            raise CopybookError(f"line {line}: {name}: PIC {picture} mixes text and numeric symbols or usages")
        length = sum(n for _, n in units)
        return Encoding.TEXT, length, 0, 0, False
    symbols_in_order = [s for s, _ in units]
    signed = symbols_in_order[0] == "S"
    if symbols_in_order.count("S") > int(signed) or symbols_in_order.count("V") > 1:
        raise CopybookError(f"line {line}: {name}: misplaced S or V in PIC {picture}")
    digits = scale = 0
    after_point = False
    for symbol, count in units:
        if symbol == "V":
            after_point = True
        elif symbol == "9":
            digits += count
            scale += count if after_point else 0
    if digits == 0 or digits > 31:
        raise CopybookError(f"line {line}: {name}: PIC {picture} needs 1 to 31 digits")
    if usage is Encoding.PACKED:
        return Encoding.PACKED, digits // 2 + 1, digits, scale, signed
    if usage is Encoding.BINARY:
        if digits > 18:
            raise CopybookError(f"line {line}: {name}: COMP fields hold at most 18 digits")
        return Encoding.BINARY, 2 if digits <= 4 else 4 if digits <= 9 else 8, digits, scale, signed
    return Encoding.ZONED, digits, digits, scale, signed


def _statements(text: str) -> list[tuple[int, list[str]]]:
    """(line number, words) of each period-terminated entry, comments and sequence areas removed."""
    statements: list[tuple[int, list[str]]] = []
    words: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip("\n")
        if len(line) > 6 and line[6] in "*/":
            continue
        # Fixed format: columns 1-6 are a sequence area, 73-80 identification.
        code = line[7:72] if line[:6].strip() == "" or line[:6].isdigit() else line
        for token in re.findall(r"'[^']*'|\"[^\"]*\"|[^\s]+", code):
            if not words:
                start = number
            ends = token.endswith(".") and not token.startswith(("'", '"'))
            token = token[:-1] if ends else token
            if token:
                words.append(token)
            if ends:
                statements.append((start, words))
                words = []
    if words:
        raise CopybookError(f"line {start}: entry {' '.join(words[:2])} does not end with a period")
    return statements


def parse_copybook(text: str) -> Layout:
    fields: list[Field] = []
    record: str | None = None
    offset = 0
    for line, words in _statements(text):
        if not words[0].isdigit():
            raise CopybookError(f"line {line}: expected a level number, found {words[0]!r}")
        level = int(words[0])
        if level == 88:
            continue
        if not 1 <= level <= 49 or len(words) < 2:
            raise CopybookError(f"line {line}: unsupported level {words[0]}")
        name = words[1].upper()
        if level == 1:
            if record is not None:
                raise CopybookError(f"line {line}: a second 01 record ({name}); one record per copybook")
            record = name
        elif record is None:
            raise CopybookError(f"line {line}: {name} comes before the 01 record")
        clauses = [w.upper() for w in words[2:]]
        unsupported = [c for c in clauses if c in _UNSUPPORTED]
        if unsupported:
            raise CopybookError(f"line {line}: {name}: {unsupported[0]} is not supported")
        picture = None
        usage: Encoding | None = None
        rest = iter(clauses)
        for clause in rest:
            if clause in ("PIC", "PICTURE"):
                picture = next(rest, "")
                if picture == "IS":
                    picture = next(rest, "")
            elif clause in _USAGES:
                usage = _USAGES[clause]
            elif clause in ("USAGE", "IS"):
                continue
            elif clause == "VALUE":
                next(rest, None)
            else:
                raise CopybookError(f"line {line}: {name}: unsupported clause {clause!r}")
        if picture is None:
            if usage is not None:
                raise CopybookError(f"line {line}: {name}: a usage without a PIC clause")
            continue  # a group item: its children follow
        encoding, length, digits, scale, signed = _picture(name, picture, usage, line)
        fields.append(Field(name, offset, length, encoding, picture, digits, scale, signed))
        offset += length
    if record is None or not fields:
        raise CopybookError("no 01 record with elementary fields found")
    return Layout(record, tuple(fields), offset)


def load_copybook(path: Path) -> Layout:
    try:
        return parse_copybook(path.read_text(encoding="utf-8"))
    except CopybookError as exc:
        raise CopybookError(f"{path.name}: {exc}") from None
