"""Screening and detector rates over the corpus: published poisoning examples against the
stubs' clean descriptions and results (tests/inspect/test_corpus.py, bench/bench_inspect.py)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from gateway.inspect.detectors import Detector, expand
from gateway.inspect.screening import CHECKS, Screen
from gateway.models import ToolResult

CORPUS = Path(__file__).parent / "corpus"
SCREEN = Screen(frozenset(CHECKS), ("*.example.com",))
#: Fields of the stubs' results that hold what the detectors are for: a finding elsewhere is a false positive.
SENSITIVE_FIELDS = frozenset({"IBAN", "TaxNumber1", "BankAccount", "email", "phone_number"})


def poisoned() -> list[dict[str, Any]]:
    samples: list[dict[str, Any]] = yaml.safe_load((CORPUS / "poisoned.yaml").read_text("utf-8"))["samples"]
    return samples


def benign() -> list[str]:
    samples: list[str] = yaml.safe_load((CORPUS / "benign.yaml").read_text("utf-8"))["samples"]
    return samples


def stub_descriptions() -> list[str]:
    """Every tool description the stub-backed connectors ship (tool lists that need no server)."""
    texts: list[str] = []
    for kind in ("sap", "oracle"):
        tools = importlib.import_module(f"connectors.{kind}.tools")
        texts += [f"{s.title or ''}\n{s.description}" for s in tools.tool_specs(kind)]
    mcp_stub = importlib.import_module("connectors.mcp.stub")
    texts += [t.description or "" for t in mcp_stub.TOOLS]
    return texts


def findings(text: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    SCREEN.scan(text, counts, strip=False)
    return counts


@dataclass
class Rates:
    detected: int = 0
    poisoned: int = 0
    missed: list[str] = field(default_factory=list)
    flagged: int = 0
    clean: int = 0
    false_alarms: list[str] = field(default_factory=list)

    def line(self) -> str:
        return (
            f"screening: detected {self.detected}/{self.poisoned} poisoned samples "
            f"({100 * self.detected / self.poisoned:.1f}%), flagged {self.flagged}/{self.clean} clean texts "
            f"({100 * self.flagged / self.clean:.1f}% false positives)"
        )


def screening_rates(clean_texts: Iterable[str]) -> Rates:
    rates = Rates()
    for sample in poisoned():
        rates.poisoned += 1
        if findings(sample["text"]):
            rates.detected += 1
        else:
            rates.missed.append(sample["source"])
    for text in clean_texts:
        rates.clean += 1
        if findings(text):
            rates.flagged += 1
            rates.false_alarms.append(text[:120])
    return rates


def result_texts(results: Iterable[tuple[str, ToolResult]]) -> list[str]:
    return [str(block.get("text", "")) for _, result in results for block in result.content]


def detector_false_positives(results: Iterable[tuple[str, ToolResult]]) -> tuple[int, int, list[str]]:
    """(strings scanned, findings outside the sensitive fields, what they were)."""
    detector = Detector(expand(["IBAN", "CREDIT_CARD", "EMAIL", "PHONE", "NATIONAL_ID", "TAX_ID"]))
    scanned, wrong = 0, []
    for tool, result in results:
        for key, value in _leaves(result.structured or {}):
            scanned += 1
            for span in detector.find(str(value)):
                if key not in SENSITIVE_FIELDS:
                    wrong.append(f"{tool} {key}={value!r}: {span.entity}")
    return scanned, len(wrong), wrong


def _leaves(value: Any, key: str = "") -> Iterable[tuple[str, Any]]:
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _leaves(v, str(k))
    elif isinstance(value, list):
        for item in value:
            yield from _leaves(item, key)
    else:
        yield key, value
