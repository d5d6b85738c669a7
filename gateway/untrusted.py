"""Characters in text from outside that act on whoever reads it, and their visible escapes.

Tool and connector names, arguments, comments and error details are chosen by whoever
called the gateway. Shown raw, a newline plants a fake line in a log or a terminal, an
ANSI escape rewrites or hides what is on screen, and a bidi override reorders it. The CLI
(gateway.cli.output) and the CEF export replace these characters with escapes such as
`\\n`, `\\x1b` or `\\u202e`.
"""

from __future__ import annotations

import re

#: Bidirectional formatting characters (Unicode TR9): they reorder what follows on screen.
_BIDI = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
#: C0 controls, DEL, C1 controls (0x9b alone is a CSI on some terminals), line and
#: paragraph separators, bidi formatting.
UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
#: The same without newline and tab, for multi-line text shown as a block.
UNSAFE_IN_BLOCK = re.compile(f"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029{_BIDI}]")
#: What json.dumps(ensure_ascii=False) leaves raw: everything unsafe above 0x7e.
UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f\u2028\u2029{_BIDI}]")

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def visible(char: str) -> str:
    """The escape that shows `char`: `\\n`, `\\x1b`, `\\u202e`."""
    if char in _NAMED:
        return _NAMED[char]
    code = ord(char)
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_unsafe(text: str, unsafe: re.Pattern[str] = UNSAFE) -> str:
    return unsafe.sub(lambda m: visible(m.group()), text)


def json_escape_unsafe(text: str) -> str:
    """JSON text (from json.dumps with ensure_ascii=False) with the unsafe characters JSON
    leaves raw written as \\u escapes: the same JSON value, nothing that acts on a terminal."""
    return UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)


#: The password of a URL's userinfo (`scheme://user:password@host`), up to the last `@`
#: before the host: a password may hold an unescaped `@`.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s/:@]*:)[^\s/]*@")
#: ...and as a query parameter (libpq accepts `?password=`).
_QUERY_PASSWORD = re.compile(r"(?i)([?&](?:password|passwd|pwd|sslpassword)=)[^&\s]*")


def mask_credentials(text: str) -> str:
    """`text` with every URL password replaced by `***` (postgresql://app:***@db/audit)."""
    return _QUERY_PASSWORD.sub(r"\1***", _URL_PASSWORD.sub(r"\1***@", text))
