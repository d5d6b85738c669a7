"""The agent's back-channel for the call running in the current task.

A front door that can talk back to the agent while a call runs (MCP over a stream) sets
a Relay around `Pipeline.run`; a connector whose backend reports progress or log
messages finds it here. Nothing else of the call path needs to know about it.
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from mcp.shared.dispatcher import ProgressFnT

from gateway.models import Principal


@dataclass(frozen=True, slots=True, eq=False)
class Relay:
    principal: Principal
    #: The call this back-channel belongs to.
    connector: str
    tool: str
    #: (progress, total, message): a no-op when the agent asked for no progress.
    progress: ProgressFnT
    #: (level, data, logger): an MCP logging message to the agent.
    log: Callable[[str, Any, str | None], Awaitable[None]]
    #: An upstream's sampling request, asked of the agent's LLM (governed and audited).
    sample: Callable[[types.CreateMessageRequestParams], Awaitable[types.CreateMessageResult | types.ErrorData]]
    #: An upstream's elicitation request, asked of the agent's user (governed and audited).
    elicit: Callable[[types.ElicitRequestParams], Awaitable[types.ElicitResult | types.ErrorData]]


_current: contextvars.ContextVar[Relay | None] = contextvars.ContextVar("gateway_relay", default=None)


def current_relay() -> Relay | None:
    return _current.get()


@contextlib.contextmanager
def relaying(relay: Relay) -> Iterator[None]:
    token = _current.set(relay)
    try:
        yield
    finally:
        _current.reset(token)
