"""What the CLI prints: text from outside (agents, backends, the log) made inert for a terminal.

Tool and connector names, arguments, comments and error details are chosen by whoever
called the gateway. Printed raw, a newline plants a fake line in an auditor's terminal, an
ANSI escape rewrites or hides what is on screen, and a bidi override reorders it. Every
field the CLI prints from such a source goes through `inert` (or `json_text`), so those
characters show as visible escapes (`\\n`, `\\x1b`, `\\u202e`) instead of acting.
"""

from __future__ import annotations

import json
import re
from typing import Any

import click

#: Bidirectional formatting characters (Unicode TR9): they reorder what follows on screen.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: C0 controls, DEL, C1 controls (0x9b alone is a CSI on some terminals), line and
#: paragraph separators, bidi formatting.
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
#: The same without newline and tab, for multi-line text printed as a block.
_UNSAFE_IN_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
#: What json.dumps(ensure_ascii=False) leaves raw: everything unsafe above 0x7e.
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI}]")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def inert(value: object, *, block: bool = False) -> str:
    """`value` as text that cannot act on a terminal; `block` keeps newlines and tabs."""
    return (_UNSAFE_IN_BLOCK if block else _UNSAFE).sub(_escape, str(value))


def json_text(value: Any, *, indent: int | None = None) -> str:
    """JSON for a terminal: non-ASCII kept readable, but no raw control or bidi character."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, default=str)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


def echo_json(value: Any, *, indent: int | None = None) -> None:
    click.echo(json_text(value, indent=indent))


class InertError(click.ClickException):
    """A CLI error whose message may quote outside text (a server's detail, a name)."""

    def __init__(self, message: str) -> None:
        super().__init__(inert(message))
