"""The wrapper every connector gets: a deadline per attempt, bounded concurrency, retries
with backoff for read-only tools only, and a circuit breaker.

A backend that hangs costs a caller at most its deadline; a backend that keeps failing
opens the circuit, and further calls fail at once instead of piling up. After
`circuit_reset_seconds` the circuit is half-open: one probe (a read-only call, or the
backend's own health check) decides whether it closes again or stays open. Writes are never
retried and never used as a probe: a write that timed out may have happened.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from connectors.base import BackendError, BackendTimeout, BackendUnavailable, CallContext, Connector, Health
from connectors.options import ConnectorOptions
from gateway.config import ConnectorSettings
from gateway.errors import ConnectorBusy as ConnectorBusy
from gateway.models import ToolResult, ToolSpec

log = logging.getLogger(__name__)

T = TypeVar("T")
#: One request to the backend, given the connector inside the wrapper.
Operation = Callable[[Connector], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class ResiliencePolicy:
    #: Seconds one attempt may take (the stanza's `timeout_seconds`).
    timeout: float
    max_concurrency: int = 16
    #: Calls that may wait for a slot; more are refused at once (ConnectorBusy), not queued.
    max_waiting: int = 64
    retries: int = 2
    retry_backoff: float = 0.1
    failure_threshold: int = 5
    reset_after: float = 30.0

    @classmethod
    def from_settings(cls, settings: ConnectorSettings) -> ResiliencePolicy:
        options = ConnectorOptions.common(settings)
        return cls(
            timeout=settings.timeout_seconds,
            max_concurrency=options.max_concurrency,
            max_waiting=options.max_waiting,
            retries=options.retries,
            retry_backoff=options.retry_backoff_seconds,
            failure_threshold=options.circuit_failure_threshold,
            reset_after=options.circuit_reset_seconds,
        )


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class CircuitBreaker:
    def __init__(self, threshold: int, reset_after: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._threshold = threshold
        self._reset_after = reset_after
        self._clock = clock
        self._failures = 0
        self._opened_at: float | None = None
        self.last_error = ""

    @property
    def state(self) -> CircuitState:
        if self._opened_at is None:
            return CircuitState.CLOSED
        if self._clock() - self._opened_at >= self._reset_after:
            return CircuitState.HALF_OPEN
        return CircuitState.OPEN

    def retry_in(self) -> float:
        return 0.0 if self._opened_at is None else max(0.0, self._opened_at + self._reset_after - self._clock())

    def success(self) -> None:
        self._failures = 0
        self._opened_at = None

    def failure(self, error: str) -> None:
        self.last_error = error
        self._failures += 1
        # A failed probe re-opens at once; in the closed state it takes `threshold` in a row.
        if self._opened_at is not None or self._failures >= self._threshold:
            self._opened_at = self._clock()


class ResilientConnector:
    """Wraps any Connector; itself a Connector, so the gateway never sees the difference."""

    def __init__(self, inner: Connector, policy: ResiliencePolicy) -> None:
        self.name = inner.name
        self.inner = inner
        self.policy = policy
        self.circuit = CircuitBreaker(policy.failure_threshold, policy.reset_after)
        self._slots = asyncio.Semaphore(policy.max_concurrency)
        self._waiting = 0
        self._probe = asyncio.Lock()
        self._read_only: dict[str, bool] = {}

    @property
    def circuit_state(self) -> CircuitState:
        return self.circuit.state

    def offers(self, capability: type[Any]) -> bool:
        """Whether the backend offers more than tools (a runtime-checkable Protocol, such as
        MCP prompts and resources); such requests go through `send` like any call."""
        return isinstance(self.inner, capability)

    async def start(self) -> None:
        await self.inner.start()

    async def close(self) -> None:
        await self.inner.close()

    async def tools(self) -> list[ToolSpec]:
        specs = await self.inner.tools()
        self._read_only = {spec.name: spec.read_only for spec in specs}
        return specs

    async def health(self) -> Health:
        state = self.circuit.state
        if state is CircuitState.OPEN:
            retry_in = self.circuit.retry_in()
            return Health(False, f"circuit open ({self.circuit.last_error}); next probe in {retry_in:.1f} s")
        inner = await self._inner_health()
        if state is CircuitState.HALF_OPEN:
            self._record(inner.healthy, inner.detail)
        return Health(inner.healthy, f"circuit {self.circuit.state}; {inner.detail}")

    async def _inner_health(self) -> Health:
        try:
            async with asyncio.timeout(self.policy.timeout):
                return await self.inner.health()
        except TimeoutError:
            return Health(False, f"health check did not answer within {self.policy.timeout:g} s")
        except Exception as exc:
            log.exception("health check of connector %s failed", self.name)
            return Health(False, f"health check failed ({type(exc).__name__})")

    def _record(self, ok: bool, error: str) -> None:
        if ok:
            self.circuit.success()
        else:
            self.circuit.failure(error)

    def _open_error(self) -> BackendUnavailable:
        return BackendUnavailable(
            "circuit open after repeated failures "
            f"({self.circuit.last_error}); retry in {max(self.circuit.retry_in(), 0.1):.1f} s"
        )

    @property
    def acts_for_caller(self) -> bool:
        """The backend sees each call's caller (token exchange), not one technical identity:
        a held call must run before the caller's token expires. Connectors that never act for
        a caller need not declare it."""
        return bool(getattr(self.inner, "acts_for_caller", False))

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        if tool not in self._read_only:
            await self.tools()
        read_only = self._read_only.get(tool, False)
        return await self.send(
            lambda inner: inner.call(tool, arguments, context), timeout=context.timeout, read_only=read_only, what=tool
        )

    async def send(self, operation: Operation[T], *, timeout: float, read_only: bool, what: str) -> T:
        """Any request to the backend (a tool call, a prompt, a resource read...) under the
        deadline, the concurrency limit and the circuit; retried only when `read_only`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        attempts = 1 + (self.policy.retries if read_only else 0)
        for attempt in range(attempts):
            try:
                return await self._through_circuit(operation, deadline, read_only, what)
            except ConnectorBusy:
                raise
            except BackendUnavailable:
                backoff = self.policy.retry_backoff * (2**attempt) * random.uniform(0.5, 1.0)
                last = attempt + 1 == attempts or loop.time() + backoff >= deadline
                if last or self.circuit.state is CircuitState.OPEN:
                    raise
                await asyncio.sleep(backoff)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _through_circuit(self, operation: Operation[T], deadline: float, read_only: bool, what: str) -> T:
        state = self.circuit.state
        if state is CircuitState.CLOSED:
            return await self._attempt(operation, deadline, what)
        if state is CircuitState.OPEN or self._probe.locked():
            raise self._open_error()
        async with self._probe:
            if not read_only:
                # A write is never the probe: ask the backend's health check first.
                probe = await self._inner_health()
                self._record(probe.healthy, probe.detail)
                if not probe.healthy:
                    raise self._open_error()
            return await self._attempt(operation, deadline, what)

    async def _attempt(self, operation: Operation[T], deadline: float, what: str) -> T:
        loop = asyncio.get_running_loop()
        budget = min(self.policy.timeout, deadline - loop.time())
        if budget <= 0:
            raise BackendTimeout("no time left for the call (deadline passed)")
        if self._slots.locked() and self._waiting >= self.policy.max_waiting:
            raise ConnectorBusy(
                f"too many concurrent calls (limit {self.policy.max_concurrency}, "
                f"{self.policy.max_waiting} waiting); try again later"
            )
        self._waiting += 1
        try:
            async with asyncio.timeout(budget):
                await self._slots.acquire()
        except TimeoutError:
            raise ConnectorBusy(
                f"too many concurrent calls (limit {self.policy.max_concurrency}); try again later"
            ) from None
        finally:
            self._waiting -= 1
        budget = min(self.policy.timeout, deadline - loop.time())
        try:
            async with asyncio.timeout(budget):
                result = await operation(self.inner)
        except TimeoutError:
            error = BackendTimeout(f"did not answer within {budget:.3g} s")
            self.circuit.failure(str(error))
            raise error from None
        except BackendUnavailable as exc:
            self.circuit.failure(str(exc))
            raise
        except BackendError:
            # The backend answered (with a refusal): it is alive.
            self.circuit.success()
            raise
        except Exception:
            # A connector bug must not reach the agent as a traceback.
            log.exception("connector %s failed on %s", self.name, what)
            raise BackendError("internal connector error") from None
        finally:
            self._slots.release()
        self.circuit.success()
        return result


def resilient(inner: Connector, settings: ConnectorSettings) -> ResilientConnector:
    return ResilientConnector(inner, ResiliencePolicy.from_settings(settings))
