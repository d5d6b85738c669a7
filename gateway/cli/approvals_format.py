"""Plain-text forms for terminals: ISO 8601 times with their zone, short durations
(`3h 59m`) and aligned tables with a header row whose cells are made inert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from gateway.cli.output import inert


def iso(ts: float | None) -> str:
    """Local time in ISO 8601 with its UTC offset, to the second; "-" for none."""
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="seconds")


def duration(seconds: float) -> str:
    """`2d 3h`, `3h 59m`, `4m 10s` or `12s`: the two largest units."""
    s = max(0, int(seconds))
    days, rest = divmod(s, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    if minutes:
        return f"{minutes}m {secs}s"
    return f"{secs}s"


def table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; the last column is not padded."""
    cells = [[inert(c) for c in row] for row in [header, *rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)
