"""The one error a policy directory can raise, always naming where and what."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in a policy file: `file:line`, the column it starts at, what is wrong."""

    location: str
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.location}:{self.column}: {self.message}"


class PolicyError(Exception):
    """A policy directory that must not go live. The message names `file:line` and the fault.

    `file_hashes` describes the files that were read (empty when none could be), so a failed
    reload can still be audited with the hashes of the candidate that was refused.
    """

    def __init__(
        self, message: str, file_hashes: Mapping[str, str] | None = None, problems: Iterable[str] = ()
    ) -> None:
        super().__init__(message)
        self.file_hashes: Mapping[str, str] = dict(file_hashes or {})
        #: Every fault found, one line each (the message holds them all too).
        self.problems: tuple[str, ...] = tuple(problems) or (message,)

    @classmethod
    def of(cls, problems: Iterable[Problem | str], file_hashes: Mapping[str, str] | None = None) -> PolicyError:
        """One error reporting every problem: a load shows all its faults at once, not the first."""
        lines = [str(problem) for problem in problems]
        message = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n" + "\n".join(lines)
        return cls(message, file_hashes, lines)
