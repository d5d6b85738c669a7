"""The CLI's one way to print outside text: nothing in it acts on a terminal, no URL
password shows."""

from __future__ import annotations

import json

import pytest

from gateway.cli.output import inert, json_text


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("sap.create\nfake line", "sap.create\\nfake line"),
        ("\x1b[2K\x1b]0;title\x07", "\\x1b[2K\\x1b]0;title\\x07"),
        ("\r\t\x00\x7f", "\\r\\t\\x00\\x7f"),
        ("csi \x9b31m nel \x85", "csi \\x9b31m nel \\x85"),
        ("abc\u202edef\u2066x\u2069\u200f", "abc\\u202edef\\u2066x\\u2069\\u200f"),
        ("line\u2028sep", "line\\u2028sep"),
        ("Müller 東京 ✓ C:\\path", "Müller 東京 ✓ C:\\path"),
    ],
)
def test_control_and_bidi_characters_are_shown_not_acted_on(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_a_block_keeps_its_lines_but_nothing_else() -> None:
    assert inert("one\n\ttwo\x1b[1A\r", block=True) == "one\n\ttwo\\x1b[1A\\r"


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("cannot open postgresql://app:pa@ss@db:5432/audit", "cannot open postgresql://app:***@db:5432/audit"),
        ("postgres://:only@h/d and redis://u:p@r:6379/0", "postgres://:***@h/d and redis://u:***@r:6379/0"),
        (
            "postgresql://h/d?user=a&password=xyz&sslmode=require",
            "postgresql://h/d?user=a&password=***&sslmode=require",
        ),
        (
            "https://example.com/a@b and postgresql://app@db/audit",
            "https://example.com/a@b and postgresql://app@db/audit",
        ),
    ],
)
def test_url_passwords_are_masked(raw: str, shown: str) -> None:
    assert inert(raw) == shown


def test_json_stays_json_with_the_same_escapes() -> None:
    value = {"tool": "x\n\x1b[2K\u202e\x85", "db": "postgresql://a:b@c/d", "name": "Müller"}
    text = json_text(value)
    assert "\n" not in text and "\x1b" not in text and "\u202e" not in text and "\x85" not in text
    assert json.loads(text) == {**value, "db": "postgresql://a:***@c/d"}
    assert "Müller" in text
