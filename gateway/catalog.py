"""The tool catalog: every connector's tools under `connector.tool`, and argument
validation against each tool's JSON Schema (the "validate" stage)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import jsonschema

from connectors.resilience import ResilientConnector
from gateway.errors import BackendFailed, InvalidArguments, UnknownTool
from gateway.models import ToolSpec, split_qualified_name
from gateway.schema import validator_for

log = logging.getLogger(__name__)

#: A connector whose tool list could not be fetched is asked again at most this often.
RETRY_INTERVAL_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class CatalogEntry:
    spec: ToolSpec
    validator: jsonschema.protocols.Validator


def _compile(spec: ToolSpec) -> CatalogEntry:
    return CatalogEntry(spec, validator_for(dict(spec.input_schema)))


def _field_path(error: jsonschema.ValidationError) -> str:
    parts = list(error.absolute_path)
    if error.validator == "required" and isinstance(error.instance, Mapping):
        # The error sits on the object; the field the agent has to fix is the missing one.
        required: list[str] = error.validator_value  # type: ignore[assignment]  # the keyword's list
        parts += [name for name in required if name not in error.instance][:1]
    path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    return path.lstrip(".") or "(arguments)"


class Catalog:
    def __init__(self, connectors: Iterable[ResilientConnector]) -> None:
        self.connectors: dict[str, ResilientConnector] = {c.name: c for c in connectors}
        self._entries: dict[str, dict[str, CatalogEntry]] = {name: {} for name in self.connectors}
        self._fetched_at: dict[str, float] = {}
        #: Why a connector's tool list could not be fetched, while it cannot.
        self._unreachable: dict[str, str] = {}
        self._locks = {name: asyncio.Lock() for name in self.connectors}

    async def refresh(self, connector_name: str) -> None:
        """Fetch one connector's tools; on failure keep what was known before."""
        async with self._locks[connector_name]:
            self._fetched_at[connector_name] = time.monotonic()
            try:
                specs = await self.connectors[connector_name].tools()
            except Exception as exc:
                self._unreachable[connector_name] = str(exc) or type(exc).__name__
                log.warning("cannot list tools of connector %s: %s", connector_name, exc)
                return
            self._entries[connector_name] = {s.name: _compile(s) for s in specs}
            self._unreachable.pop(connector_name, None)

    async def refresh_all(self) -> None:
        await asyncio.gather(*(self.refresh(name) for name in self.connectors))

    async def _refresh_stale(self) -> None:
        now = time.monotonic()
        stale = [
            name
            for name in self.connectors
            if (name in self._unreachable or name not in self._fetched_at)
            and now - self._fetched_at.get(name, 0.0) >= RETRY_INTERVAL_SECONDS
        ]
        if stale:
            await asyncio.gather(*(self.refresh(name) for name in stale))

    async def specs(self) -> list[ToolSpec]:
        await self._refresh_stale()
        return [e.spec for entries in self._entries.values() for e in entries.values()]

    def entry(self, name: str) -> CatalogEntry | None:
        parts = split_qualified_name(name)
        if parts is None:
            return None
        entries = self._entries.get(parts[0])
        return entries.get(parts[1]) if entries is not None else None

    async def lookup(self, name: str) -> CatalogEntry:
        """The tool called `name`, fetching its connector's list again once if unknown."""
        found = self.entry(name)
        if found is not None:
            return found
        parts = split_qualified_name(name)
        if parts is None:
            raise UnknownTool(f"unknown tool {name!r}: tool names are 'connector.tool'")
        if parts[0] not in self.connectors:
            raise UnknownTool(f"unknown tool {name!r}: no connector named {parts[0]!r}")
        await self.refresh(parts[0])
        found = self.entry(name)
        if found is not None:
            return found
        if parts[0] in self._unreachable:
            # Not "unknown": the backend's list cannot be had, so nobody can say.
            raise BackendFailed(
                f"backend {parts[0]!r} is unavailable, so its tools cannot be called now "
                f"({self._unreachable[parts[0]]})"
            )
        raise UnknownTool(f"unknown tool {name!r}: connector {parts[0]!r} has no tool {parts[1]!r}")

    @staticmethod
    def validate(entry: CatalogEntry, arguments: Mapping[str, Any]) -> None:
        error = jsonschema.exceptions.best_match(entry.validator.iter_errors(arguments))
        if error is not None:
            raise InvalidArguments(f"invalid argument {_field_path(error)}: {error.message}")


def argument_problem(spec: ToolSpec, arguments: Mapping[str, Any]) -> str | None:
    """What is wrong with `arguments` for `spec`, as an agent would be told; None if nothing."""
    try:
        Catalog.validate(_compile(spec), arguments)
    except InvalidArguments as exc:
        return exc.message
    return None
