"""Reading a policy directory: which files belong to it, their text, their hashes."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gateway.policy.errors import PolicyError

MODEL_FILE = "model.conf"
RULE_SUFFIX = ".csv"
CASE_SUFFIXES = (".yaml", ".yml")


@dataclass(frozen=True, slots=True)
class PolicyFiles:
    """The decoded text of every file of one policy directory, read once."""

    directory: Path
    texts: Mapping[str, str]
    file_hashes: Mapping[str, str]
    version: str

    @property
    def rule_files(self) -> list[str]:
        # Sorted so that rule positions (and so "first matching rule") never depend on the filesystem.
        return sorted(name for name in self.texts if name.endswith(RULE_SUFFIX))

    @property
    def case_files(self) -> list[str]:
        return sorted(name for name in self.texts if name.endswith(CASE_SUFFIXES))


def policy_version(file_hashes: Mapping[str, str]) -> str:
    """One hash over every file name and content hash, so renaming a file changes it too."""
    digest = hashlib.sha256()
    for name in sorted(file_hashes):
        digest.update(f"{name}\0{file_hashes[name]}\n".encode())
    return digest.hexdigest()


def read_policy_files(directory: Path) -> PolicyFiles:
    """Read `model.conf`, `*.csv` and the YAML test cases directly in `directory`.

    Raises PolicyError for a missing directory or model, an empty file (a half-written
    save looks exactly like that) and text that is not UTF-8.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError(f"{directory}: policy directory does not exist")
    raw: dict[str, bytes] = {}
    for path in sorted(directory.iterdir()):
        if path.is_file() and (path.name == MODEL_FILE or path.name.endswith((RULE_SUFFIX, *CASE_SUFFIXES))):
            try:
                raw[path.name] = path.read_bytes()
            except OSError as exc:
                raise PolicyError(f"{path.name}: cannot be read: {exc.strerror}") from exc
    hashes = {name: hashlib.sha256(data).hexdigest() for name, data in raw.items()}
    if MODEL_FILE not in raw:
        raise PolicyError(f"{MODEL_FILE}: missing from {directory}", hashes)
    if not any(name.endswith(RULE_SUFFIX) for name in raw):
        raise PolicyError(f"{directory}: no *{RULE_SUFFIX} policy file", hashes)
    texts: dict[str, str] = {}
    for name, data in raw.items():
        if not data.strip():
            raise PolicyError(f"{name}: file is empty (delete it if that is intended)", hashes)
        try:
            texts[name] = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            line = data.count(b"\n", 0, exc.start) + 1
            raise PolicyError(f"{name}:{line}: not valid UTF-8 (byte {exc.start})", hashes) from exc
    return PolicyFiles(directory=directory, texts=texts, file_hashes=hashes, version=policy_version(hashes))
