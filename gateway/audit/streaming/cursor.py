"""A sink's cursor: the last record it acknowledged, kept in a small file that is
replaced atomically (write, fsync, rename), so a crash leaves the old or the new one."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from gateway.audit.chain import GENESIS_HASH
from gateway.errors import InvalidInput


class CursorError(InvalidInput):
    pass


@dataclass(frozen=True, slots=True)
class Position:
    #: Sequence number of the last acknowledged record (0: none yet).
    seq: int
    #: Its hash: on resume it must still be the record at `seq` (the log was not replaced).
    hash: str


class CursorFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> Position:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return Position(int(data["seq"]), str(data["hash"]))
        except FileNotFoundError:
            return Position(0, GENESIS_HASH)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CursorError(f"unreadable sink cursor {self.path}: {exc}") from None

    def save(self, position: Position) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_suffix(".tmp")
        with temporary.open("w", encoding="utf-8") as out:
            json.dump({"seq": position.seq, "hash": position.hash}, out)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself survives a power cut
        finally:
            os.close(directory)
