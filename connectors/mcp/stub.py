"""A small upstream MCP server (official SDK) for demos, tests and benchmarks.

Tools: `echo` (returns its text), `add` (two numbers), `sleep` (waits, for timeouts).
Every call is recorded on `app.state.calls` with the traceparent it carried, so tests
can prove what reached the backend and what did not; `app.state.tools` is what tools/list
answers.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any

import mcp_types as types
import uvicorn
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp, StreamableHTTPSessionManager
from starlette.applications import Starlette
from starlette.routing import Route

from connectors.stubkit import serve_if_local
from gateway.config import ConnectorSettings

TOOLS = [
    types.Tool(
        name="echo",
        description="Return the text it is given.",
        input_schema={
            "type": "object",
            "properties": {"text": {"type": "string", "maxLength": 100_000}},
            "required": ["text"],
            "additionalProperties": False,
        },
        annotations=types.ToolAnnotations(read_only_hint=True),
    ),
    types.Tool(
        name="add",
        description="Add two numbers.",
        input_schema={
            "type": "object",
            "properties": {"a": {"type": "number"}, "b": {"type": "number"}},
            "required": ["a", "b"],
            "additionalProperties": False,
        },
        annotations=types.ToolAnnotations(read_only_hint=True),
    ),
    types.Tool(
        name="sleep",
        description="Wait the given number of seconds, then answer.",
        input_schema={
            "type": "object",
            "properties": {"seconds": {"type": "number", "minimum": 0, "maximum": 600}},
            "required": ["seconds"],
            "additionalProperties": False,
        },
    ),
]
_SCHEMAS = {t.name: t.input_schema for t in TOOLS}


def create_app(*, stateless: bool = False, json_response: bool = False) -> Starlette:
    calls: list[dict[str, Any]] = []
    #: What tools/list answers; tests change it to play an upstream that changes a definition.
    tools = list(TOOLS)

    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=tools)

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = params.arguments or {}
        headers = ctx.request.headers if ctx.request is not None else {}
        calls.append({"tool": params.name, "arguments": args, "traceparent": headers.get("traceparent")})
        if params.name == "echo":
            text = str(args.get("text", ""))
            return types.CallToolResult(content=[types.TextContent(text=text)], structured_content={"text": text})
        if params.name == "add":
            total = args["a"] + args["b"]
            return types.CallToolResult(content=[types.TextContent(text=str(total))], structured_content={"sum": total})
        if params.name == "sleep":
            await asyncio.sleep(float(args["seconds"]))
            return types.CallToolResult(content=[types.TextContent(text="done")])
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")

    server = Server(
        "echo-upstream",
        version="1.0",
        on_list_tools=list_tools,
        on_call_tool=call_tool,
        get_tool_input_schema=_SCHEMAS.get,
    )
    manager = StreamableHTTPSessionManager(app=server, stateless=stateless, json_response=json_response)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with manager.run():
            yield

    app = Starlette(
        routes=[Route("/mcp", StreamableHTTPASGIApp(manager), methods=["GET", "POST", "DELETE"])], lifespan=lifespan
    )
    app.state.calls = calls
    app.state.tools = tools
    return app


def serve_for(settings: ConnectorSettings) -> AbstractAsyncContextManager[str | None]:
    """For `gateway demo`: this server where a Streamable HTTP stanza points, when that is
    this machine; yields its base URL, or None if not started (stdio servers are the
    connector's own child processes)."""
    return serve_if_local(settings.options.get("url"), create_app)


def main() -> None:
    parser = argparse.ArgumentParser(description="Echo MCP upstream server (stub)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8102)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
