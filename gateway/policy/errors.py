"""The one error a policy directory can raise, always naming where and what."""

from __future__ import annotations

from collections.abc import Mapping


class PolicyError(Exception):
    """A policy directory that must not go live. The message names `file:line` and the fault.

    `file_hashes` describes the files that were read (empty when none could be), so a failed
    reload can still be audited with the hashes of the candidate that was refused.
    """

    def __init__(self, message: str, file_hashes: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.file_hashes: Mapping[str, str] = dict(file_hashes or {})
