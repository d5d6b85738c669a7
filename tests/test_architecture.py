"""Rules of shape the code keeps (issue 12): no function in gateway/ or connectors/ is longer
than 60 lines, except the demo stubs and tables of data listed here with their reason."""

from __future__ import annotations

import ast
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "connectors")
MAX_LINES = 60

#: Files whose functions may be longer, by glob over the path from the repository root.
LONG_FILES = {
    # The simulated backends `make demo` starts: one app factory holding the backend's routes.
    "connectors/*/stub*.py": "demo stub: the simulated backend's routes in one factory",
    "connectors/*/stub_data.py": "demo stub: the simulated backend's records",
}
#: Single functions that are one literal table, not logic.
LONG_FUNCTIONS = {
    "connectors/oracle/tools.py:tool_specs": "data: one ToolSpec literal per ORDS tool",
    "connectors/sap/tools.py:tool_specs": "data: one ToolSpec literal per OData tool",
}


def _functions() -> list[tuple[str, int]]:
    """Every function and method as `path:qualified.name`, with its length in lines."""
    found: list[tuple[str, int]] = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            relative = path.relative_to(ROOT).as_posix()
            found.extend(_walk(ast.parse(path.read_text(encoding="utf-8")), f"{relative}:"))
    return found


def _walk(node: ast.AST, prefix: str) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            name = f"{prefix}{child.name}"
            if not isinstance(child, ast.ClassDef):
                assert child.end_lineno is not None
                # From the `def` line (decorators aside) to the last line of the body.
                found.append((name, child.end_lineno - child.lineno + 1))
            found.extend(_walk(child, f"{name}."))
        else:
            found.extend(_walk(child, prefix))
    return found


def _excused(name: str) -> bool:
    path = name.split(":", 1)[0]
    return name in LONG_FUNCTIONS or any(fnmatch(path, pattern) for pattern in LONG_FILES)


def test_no_function_is_longer_than_60_lines() -> None:
    too_long = [f"{name} ({lines} lines)" for name, lines in _functions() if lines > MAX_LINES and not _excused(name)]
    assert not too_long, f"split these along their seams (at most {MAX_LINES} lines):\n" + "\n".join(too_long)


@pytest.mark.parametrize("name", sorted(LONG_FUNCTIONS))
def test_every_excused_function_is_still_long(name: str) -> None:
    """An excuse outlives its reason silently otherwise."""
    lengths = dict(_functions())
    assert name in lengths, f"{name} no longer exists: drop it from LONG_FUNCTIONS"
    assert lengths[name] > MAX_LINES, f"{name} is short now: drop it from LONG_FUNCTIONS"


def test_the_walk_measures_nested_functions(tmp_path: Path) -> None:
    """The rule sees methods and functions inside functions, each measured alone."""
    body = "".join(f"            x{i} = {i}\n" for i in range(MAX_LINES))
    source = f"class A:\n    def outer(self) -> None:\n        def inner() -> None:\n{body}"
    lengths = dict(_walk(ast.parse(source), "m.py:"))
    assert lengths["m.py:A.outer.inner"] == MAX_LINES + 1
    assert lengths["m.py:A.outer"] == MAX_LINES + 2
