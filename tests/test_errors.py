"""One exception tree: every error the gateway and its connectors raise on purpose derives
from `GatewayError`, is drawn in `gateway/errors.py`'s docstring, and no two names differ
only by a suffix (the confusion `AuditUnavailable`/`AuditUnavailableError` caused)."""

from __future__ import annotations

import difflib
import importlib
import inspect
import itertools
import pkgutil

import click

import connectors
import gateway
from gateway import errors


def _our_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for package in (gateway, connectors):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if module.name.endswith(("__main__", ".stub", "stubkit")):
                continue
            loaded = importlib.import_module(module.name)
            for _, value in inspect.getmembers(loaded, inspect.isclass):
                if issubclass(value, BaseException) and value.__module__.split(".")[0] in ("gateway", "connectors"):
                    found.add(value)
    return found


def test_every_error_is_in_the_one_tree() -> None:
    found = _our_exceptions()
    assert len(found) > 30
    # Command-line usage errors are click's own kind, shown by click.
    outside = sorted(e.__qualname__ for e in found if not issubclass(e, (errors.GatewayError, click.ClickException)))
    assert outside == []
    drawn = errors.__doc__ or ""
    missing = sorted(e.__name__ for e in found if issubclass(e, errors.GatewayError) and e.__name__ not in drawn)
    assert missing == []


def test_no_two_names_differ_only_by_a_suffix() -> None:
    names = sorted({e.__name__ for e in _our_exceptions()})
    confusable = [
        (a, b)
        for a, b in itertools.combinations(names, 2)
        # AuditUnavailable/AuditUnavailableError; BackendTimeout/BackendTimedOut.
        if a.startswith(b) or b.startswith(a) or difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio() > 0.9
    ]
    assert confusable == []
