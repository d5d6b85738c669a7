"""What the CLI prints: text from outside (agents, backends, the log) made inert for a
terminal. Every field the CLI prints from such a source goes through `inert` (or
`json_text`), so control, C1 and bidi characters show as escapes (`\\n`, `\\x1b`,
`\\u202e`) instead of acting (gateway.untrusted says why), and a URL's password shows as
`***`: no command prints a credential, whatever the error quotes."""

from __future__ import annotations

import json
from typing import Any

import click

from gateway.untrusted import UNSAFE, UNSAFE_IN_BLOCK, escape_unsafe, json_escape_unsafe, mask_credentials


def inert(value: object, *, block: bool = False) -> str:
    """`value` as text that cannot act on a terminal and shows no URL's password; `block`
    keeps newlines and tabs."""
    return escape_unsafe(mask_credentials(str(value)), UNSAFE_IN_BLOCK if block else UNSAFE)


def json_text(value: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """JSON for a terminal: non-ASCII kept readable, but no raw control or bidi character."""
    text = json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=sort_keys, default=str)
    return json_escape_unsafe(mask_credentials(text))


def echo_json(value: Any, *, indent: int | None = None) -> None:
    click.echo(json_text(value, indent=indent))


class InertError(click.ClickException):
    """A CLI error whose message may quote outside text (a server's detail, a name); its
    own lines stay lines (a policy's problems, one per line)."""

    def __init__(self, message: str) -> None:
        super().__init__(inert(message, block=True))
