"""The running policy: one engine at a time, replaced only by a candidate that passed
every check. A call keeps the engine it read at its start, so calls in flight finish
under the policy they started with."""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import watchfiles

from gateway.policy.cases import run_cases
from gateway.policy.engine import PolicyEngine
from gateway.policy.errors import PolicyError
from gateway.policy.files import CASE_SUFFIXES, MODEL_FILE, RULE_SUFFIX, policy_version
from gateway.policy.loader import check_approver_roles

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
    at: float = field(default_factory=time.time)


def load_checked(directory: Path, approver_roles: Collection[str] = ()) -> PolicyEngine:
    """Load `directory` and run its own test cases; PolicyError unless everything passes.

    With `approver_roles` (the configured ones), every approve rule's role must be one of
    them or a role that `g` rows grant: a typo would hold calls nobody can approve.
    """
    engine = PolicyEngine.load(directory)
    if approver_roles:
        check_approver_roles(engine.policy, approver_roles)
    failed = [result for result in run_cases(engine) if not result.passed]
    if failed:
        more = f" (and {len(failed) - 1} more failing cases)" if len(failed) > 1 else ""
        raise PolicyError(f"policy test case failed: {failed[0].describe()}{more}", engine.file_hashes)
    return engine


#: Kubernetes updates a mounted ConfigMap by pointing this symlink at a new directory in one
#: rename, so every file changes at once: the atomic multi-file update.
KUBERNETES_DATA_LINK = "..data"


def _policy_change_filter(directory: Path) -> Callable[[watchfiles.Change, str], bool]:
    """Changes that can alter the policy: its files directly in `directory` (read_policy_files
    reads no subdirectory, so a staging folder inside may be written freely) and the
    ConfigMap data link."""

    def relevant(_change: watchfiles.Change, path: str) -> bool:
        changed = Path(path)
        if changed.parent != directory:
            return False
        name = changed.name
        return name in (KUBERNETES_DATA_LINK, MODEL_FILE) or name.endswith((RULE_SUFFIX, *CASE_SUFFIXES))

    return relevant


class PolicyHolder:
    """Holds the current PolicyEngine; `reload()` swaps in a checked candidate or keeps the old."""

    def __init__(self, directory: Path, engine: PolicyEngine, approver_roles: Collection[str] = ()) -> None:
        self.directory = Path(directory)
        self._engine = engine
        self.approver_roles = tuple(approver_roles)
        self.loaded_at = time.time()
        #: The last reload tried (refused ones included), for `gateway policy status`.
        self.last_reload: ReloadResult | None = None
        # SIGHUP, the admin endpoint and the watcher may reload at once: one at a time.
        self._lock = threading.Lock()

    @classmethod
    def load(cls, directory: Path, approver_roles: Collection[str] = ()) -> PolicyHolder:
        """The first policy must pass the same checks as any reload; PolicyError otherwise."""
        return cls(directory, load_checked(Path(directory), approver_roles), approver_roles)

    @property
    def current(self) -> PolicyEngine:
        """The current engine; read it once per call and use that for the whole call."""
        return self._engine

    def reload(self) -> ReloadResult:
        """Blocking (reads files, compiles): from async code use `await reload_async()`."""
        with self._lock:
            current = self._engine
            try:
                candidate = load_checked(self.directory, self.approver_roles)
            except PolicyError as exc:
                hashes = dict(exc.file_hashes)
                version = policy_version(hashes) if hashes else None
                log.error("policy reload refused, keeping %s: %s", current.version[:12], exc)
                self.last_reload = ReloadResult(False, version, hashes, str(exc), current.version, changed=False)
                return self.last_reload
            changed = candidate.version != current.version
            if changed:
                self._engine = candidate
                self.loaded_at = time.time()
                log.info("policy reloaded: %s -> %s", current.version[:12], candidate.version[:12])
            self.last_reload = ReloadResult(
                True, candidate.version, dict(candidate.file_hashes), None, candidate.version, changed
            )
            return self.last_reload

    def status(self) -> dict[str, Any]:
        """The policy in force and the last reload tried: what `gateway policy status` shows."""
        engine = self._engine
        last = self.last_reload
        return {
            "directory": str(self.directory),
            "version": engine.version,
            "files": dict(engine.file_hashes),
            "rules": len(engine.policy.rules),
            "loaded_at": self.loaded_at,
            "last_reload": None
            if last is None
            else {
                "ok": last.ok,
                "at": last.at,
                "changed": last.changed,
                "candidate_version": last.version,
                "error": last.error,
            },
        }

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
            self.directory,
            watch_filter=_policy_change_filter(self.directory),
            debounce=debounce_ms,
            step=50,
            stop_event=stop_event,
        ):
            result = await self.reload_async()
            try:
                outcome = on_result(result)
                if inspect.isawaitable(outcome):
                    await outcome
            except Exception:
                log.exception("policy reload callback failed")
