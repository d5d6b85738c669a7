"""What a policy load reports: each fault as a `Problem`, all of them in one `PolicyError`
(defined with the gateway's other errors in `gateway.errors`)."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.errors import PolicyError

__all__ = ["PolicyError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One fault in a policy file: `file:line`, the column it starts at, what is wrong."""

    location: str
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.location}:{self.column}: {self.message}"
