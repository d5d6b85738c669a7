"""Writing small policy directories for the policy tests (not a test module)."""

from __future__ import annotations

import shutil
from pathlib import Path

SHIPPED = Path(__file__).resolve().parents[2] / "policies"


def write_policy(directory: Path, policy: str, roles: str = "", cases: str = "") -> Path:
    """A policy directory with the shipped model and the given CSV/YAML text."""
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copy(SHIPPED / "model.conf", directory / "model.conf")
    (directory / "policy.csv").write_text(policy)
    if roles:
        (directory / "roles.csv").write_text(roles)
    if cases:
        (directory / "cases.yaml").write_text(cases)
    return directory


def copy_shipped(directory: Path) -> Path:
    shutil.copytree(SHIPPED, directory)
    return directory
