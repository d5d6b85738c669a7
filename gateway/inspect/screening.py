"""Screening text for things aimed at the model rather than the user: invisible Unicode,
hidden-instruction markers, links to hosts nobody allowed, and instructions addressed to
the model. Used on results at call time and on tool descriptions when they are pinned.

Each check has a cheap pre-test (ASCII, substrings) so that clean text, the common case,
costs a few microseconds: the substrings of every check are looked for in one
Aho-Corasick pass (ahocorasick-rs), a third of the time of one `in` test per substring
over a 10 KB result.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from urllib.parse import urlsplit

import ahocorasick_rs

CHECKS = ("unicode", "markers", "links", "instructions")

#: Zero-width and invisible formatting, bidirectional controls, Unicode tags (ASCII
#: smuggling) and the variation selectors supplement used to hide bytes in emoji.
_HIDDEN = re.compile(
    "[\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb"
    "\U000e0000-\U000e007f\U000e0100-\U000e01ef]"
)
#: Blocks and tokens that hide text from the user or imitate chat-template roles.
_MARKERS = re.compile(
    r"<!--.*?(?:-->|\Z)"
    r"|<(important|system|secret|instructions?|hidden|admin)>.*?(?:</\1>|\Z)"
    r"|</?(?:important|system|secret|instructions?|hidden|admin)>"
    r"|<\|(?:im_start|im_end|system|endoftext)\|>|\[/?INST\]|<</?SYS>>|\{\{\s*SYSTEM",
    re.IGNORECASE | re.DOTALL,
)
_MARKER_HINTS = ("<", "inst]", "{{")
#: Markdown links and images, and bare URLs.
_LINK = re.compile(
    r"!?\[[^\]\n]{0,200}\]\(\s*([^)\s]+)[^)]*\)"
    r"|\b(?:https?|ftp|file)://[^\s<>\"')\]]+|\bdata:[a-z]+/[a-z0-9.+-]+[;,][^\s<>\"')\]]*",
    re.IGNORECASE,
)
_INSTRUCTIONS = re.compile(
    r"\b(?:ignore|disregard|forget|override)\s+(?:all\s+|any\s+|the\s+|your\s+)*(?:previous|prior|above|earlier|preceding|other|system)\s+"
    r"(?:instructions?|prompts?|rules|directions|messages)"
    r"|\b(?:do\s+not|don't|never)\s+(?:tell|inform|mention\s+(?:this\s+)?to|notify|alert|show|reveal\s+(?:this\s+)?to)\s+the\s+user"
    r"|\bwithout\s+(?:telling|informing|notifying|alerting)\s+the\s+user"
    r"|\b(?:the\s+user\s+(?:must|should)\s+not\s+(?:know|see|be\s+told))"
    # "You must pass X" is how descriptions explain arguments: only an object an attacker wants counts.
    r"|\byou\s+(?:must|should|need\s+to|are\s+required\s+to)\s+(?:now\s+|first\s+|also\s+|always\s+)?"
    r"(?:call|use|invoke|run|read|send|pass|include|upload|forward)\b[^.\n]{0,60}?"
    r"(?:conversation|history|contents?\b|\bfiles?\b|credential|secret|\bkeys?\b|password|token|~/|\.env|ssh|prompt)"
    r"|\bbefore\s+using\s+this\s+tool\b|\b(?:new|updated)\s+(?:system\s+)?instructions?\s*:"
    r"|\b(?:your|the)\s+system\s+prompt\b|\byou\s+are\s+now\b|\bact\s+as\s+(?:an?\s+)?(?:admin|administrator|root|developer)"
    r"|\b(?:AI|assistant|model|agent|LLM)[:,]\s*(?:please\s+)?(?:ignore|call|send|read|run|forward)\b",
    re.IGNORECASE,
)
_LINK_HINTS = ("://", "](", "data:")
#: One of these is in every text _INSTRUCTIONS matches (lower case). None holds a space:
#: the pattern takes any whitespace between words, and `the  user` must not slip past.
_INSTRUCTION_HINTS = (
    "ignore", "disregard", "forget", "override", "user", "you", "tool", "instruction", "prompt", "admin", "root",
    "developer", "ai:", "ai,", "assistant:", "assistant,", "model:", "model,", "agent:", "agent,", "llm:", "llm,",
)  # fmt: skip
_HINTS = (
    *(("markers", hint) for hint in _MARKER_HINTS),
    *(("links", hint) for hint in _LINK_HINTS),
    *(("instructions", hint) for hint in _INSTRUCTION_HINTS),
)
_HINT_SEARCH = ahocorasick_rs.AhoCorasick([hint for _, hint in _HINTS])


def hinted(lowered: str) -> frozenset[str]:
    """The checks (of markers, links, instructions) one of whose substrings is in `lowered`
    (lower-case text). Overlapping matches count: the same as one `in` test per substring."""
    found = _HINT_SEARCH.find_matches_as_indexes(lowered, overlapping=True)
    return frozenset(_HINTS[index][0] for index, _, _ in found)


@dataclass(frozen=True, slots=True)
class Screen:
    """Which checks to run, and the hosts links may point to (globs such as `*.example.com`)."""

    checks: frozenset[str]
    allowed_hosts: tuple[str, ...] = ()

    def may_find(self, text: str, hints: frozenset[str] | None = None) -> bool:
        """False when no check can find anything in `text` (substring tests only): a JSON
        text that passes this needs no walk over its values. `hints`: `hinted(text.lower())`,
        when the caller has it already (several rules screen one result)."""
        hints = hinted(text.lower()) if hints is None else hints
        return ("unicode" in self.checks and not text.isascii()) or not self.checks.isdisjoint(hints)

    def scan(self, text: str, counts: dict[str, int], *, strip: bool) -> str:
        """Adds findings per check to `counts`; returns the text, with findings removed when `strip`."""
        if "unicode" in self.checks and not text.isascii():
            text = _apply(_HIDDEN, text, "unicode", counts, strip, "")
        hints = hinted(text.lower())
        if "markers" in self.checks and "markers" in hints:
            text = _apply(_MARKERS, text, "markers", counts, strip, "[hidden block removed]")
        if "links" in self.checks and "links" in hints:
            text = self._links(text, counts, strip)
        if "instructions" in self.checks and "instructions" in hints:
            text = _apply(_INSTRUCTIONS, text, "instructions", counts, strip, "[instruction removed]")
        return text

    def _links(self, text: str, counts: dict[str, int], strip: bool) -> str:
        def judge(match: re.Match[str]) -> str:
            url = match.group(1) or match.group()
            if self.allows(url):
                return match.group()
            counts["links"] = counts.get("links", 0) + 1
            return "[link removed]" if strip else match.group()

        return _LINK.sub(judge, text)

    def allows(self, url: str) -> bool:
        try:
            parts = urlsplit(url)
        except ValueError:
            return False
        if parts.scheme.lower() not in ("http", "https"):
            return False
        host = (parts.hostname or "").lower()
        return bool(host) and any(fnmatchcase(host, pattern) for pattern in self.allowed_hosts)


def _apply(pattern: re.Pattern[str], text: str, check: str, counts: dict[str, int], strip: bool, mark: str) -> str:
    if strip:
        text, found = pattern.subn(mark, text)
    else:
        found = sum(1 for _ in pattern.finditer(text))
    if found:
        counts[check] = counts.get(check, 0) + found
    return text


def parse_checks(words: Iterable[str]) -> Screen:
    """`unicode markers links(docs.example.com *.corp) instructions`; ValueError naming a bad word."""
    checks: set[str] = set()
    hosts: tuple[str, ...] = ()
    for word in words:
        name, _, rest = word.partition("(")
        if name not in CHECKS:
            raise ValueError(f"unknown screening check {name!r} (known: {', '.join(CHECKS)})")
        if rest:
            if name != "links" or not rest.endswith(")"):
                raise ValueError(f"only links takes a host list, as links(host *.domain ...), got {word!r}")
            hosts = tuple(rest[:-1].replace(",", " ").lower().split())
        checks.add(name)
    if not checks:
        raise ValueError(f"screen needs at least one check: {', '.join(CHECKS)}")
    return Screen(frozenset(checks), hosts)
