"""The agent's side of a call's back-channel: upstream progress and log messages are
passed on, and upstream sampling and elicitation requests are put to the agent only when
policy allows that upstream tool to ask (`sampling/conn.tool`, `elicitation/conn.tool`):
each asking is a request of its own kind through the pipeline, decided and audited like
a tool call."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import mcp_types as types
from mcp import MCPError
from mcp.server import ServerRequestContext
from mcp.shared.message import ServerMessageMetadata

from gateway.errors import CallRefused
from gateway.mcp.sessions import AgentSessions
from gateway.models import Principal, RequestKind
from gateway.relay import Relay

T = TypeVar("T")
#: (kind, arguments to decide and record, how to ask the agent): the pipeline's answer.
AskAgent = Callable[[RequestKind, dict[str, Any], Callable[[], Awaitable[Any]]], Awaitable[Any]]


def agent_relay(
    ctx: ServerRequestContext,
    who: Principal,
    connector: str,
    tool: str,
    sessions: AgentSessions,
    governed: AskAgent,
) -> Relay:
    """The back-channel of one tools/call: what the upstream sends while the call runs
    goes to the agent's request stream."""
    related = ServerMessageMetadata(related_request_id=ctx.request_id)

    async def progress(progress: float, total: float | None, message: str | None) -> None:
        await ctx.session.report_progress(progress, total, message)

    async def log_message(level: str, data: Any, logger: str | None) -> None:
        if sessions.wants(ctx.session, level):
            await ctx.session.send_log_message(level, data, logger, related_request_id=ctx.request_id)  # type: ignore[arg-type]

    async def ask(kind: RequestKind, arguments: dict[str, Any], request: Any, result: type[T]) -> T | types.ErrorData:
        try:
            answer: T = await governed(
                kind, arguments, lambda: ctx.session.send_request(request, result, metadata=related)
            )
        except CallRefused as exc:
            return types.ErrorData(code=types.INVALID_REQUEST, message=exc.message)
        except MCPError as exc:
            return exc.error
        return answer

    async def sample(params: types.CreateMessageRequestParams) -> types.CreateMessageResult | types.ErrorData:
        request = types.CreateMessageRequest(params=params)
        return await ask(RequestKind.SAMPLING, {"max_tokens": params.max_tokens}, request, types.CreateMessageResult)

    async def elicit(params: types.ElicitRequestParams) -> types.ElicitResult | types.ErrorData:
        request = types.ElicitRequest(params=params)
        return await ask(RequestKind.ELICITATION, {"message": params.message}, request, types.ElicitResult)

    return Relay(who, connector, tool, progress, log_message, sample, elicit)
