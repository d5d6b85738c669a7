"""The running policy: one engine at a time, replaced only by a candidate that passed
every check. A call keeps the engine it read at its start, so calls in flight finish
under the policy they started with."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import watchfiles

from gateway.policy.cases import run_cases
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.files import CASE_SUFFIXES, MODEL_FILE, RULE_SUFFIX, policy_version

log = logging.getLogger("gateway.policy")


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What one reload did.

    `version` and `file_hashes` describe the candidate files that were read (also when they
    were refused, so the audit event can name them); `active_version` is what runs now.
    """

    ok: bool
    version: str | None
    file_hashes: Mapping[str, str] = field(default_factory=dict)
    error: str | None = None
    active_version: str = ""
    #: False when the candidate was identical to the running policy (nothing swapped).
    changed: bool = False


def load_checked(directory: Path) -> PolicyEngine:
    """Load `directory` and run its own test cases; PolicyError unless everything passes."""
    engine = PolicyEngine.load(directory)
    failed = [result for result in run_cases(engine) if not result.passed]
    if failed:
        more = f" (and {len(failed) - 1} more failing cases)" if len(failed) > 1 else ""
        raise PolicyError(f"policy test case failed: {failed[0].describe()}{more}", engine.file_hashes)
    return engine


def _is_policy_file(_change: watchfiles.Change, path: str) -> bool:
    name = Path(path).name
    return name == MODEL_FILE or name.endswith((RULE_SUFFIX, *CASE_SUFFIXES))


class PolicyHolder:
    """Holds the current PolicyEngine; `reload()` swaps in a checked candidate or keeps the old."""

    def __init__(self, directory: Path, engine: PolicyEngine) -> None:
        self.directory = Path(directory)
        self._engine = engine
        # SIGHUP, the admin endpoint and the watcher may reload at once: one at a time.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path) -> PolicyHolder:
        """The first policy must pass the same checks as any reload; PolicyError otherwise."""
        return cls(directory, load_checked(Path(directory)))

    @property
    def current(self) -> PolicyEngine:
        """The current engine; read it once per call and use that for the whole call."""
        return self._engine

    def reload(self) -> ReloadResult:
        """Blocking (reads files, compiles): from async code use `await reload_async()`."""
        with self._lock:
            current = self._engine
            try:
                candidate = load_checked(self.directory)
            except PolicyError as exc:
                hashes = dict(exc.file_hashes)
                version = policy_version(hashes) if hashes else None
                log.error("policy reload refused, keeping %s: %s", current.version[:12], exc)
                return ReloadResult(False, version, hashes, str(exc), current.version, changed=False)
            changed = candidate.version != current.version
            if changed:
                self._engine = candidate
                log.info("policy reloaded: %s -> %s", current.version[:12], candidate.version[:12])
            return ReloadResult(True, candidate.version, dict(candidate.file_hashes), None, candidate.version, changed)

    async def reload_async(self) -> ReloadResult:
        return await asyncio.to_thread(self.reload)

    async def watch(
        self,
        on_result: Callable[[ReloadResult], Awaitable[None] | None],
        *,
        debounce_ms: int = 300,
        stop_event: asyncio.Event | None = None,
    ) -> None:
        """Reload on every settled change to the policy files until cancelled or `stop_event` is set.

        `on_result` (plain or async) gets every ReloadResult, refused ones included; an
        exception from it is logged and the watch goes on.
        """
        async for _changes in watchfiles.awatch(
            self.directory, watch_filter=_is_policy_file, debounce=debounce_ms, step=50, stop_event=stop_event
        ):
            result = await self.reload_async()
            try:
                outcome = on_result(result)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("policy reload callback failed")
