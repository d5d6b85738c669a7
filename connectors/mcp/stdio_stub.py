"""A small MCP server over stdio, started as a subprocess by the MCP connector in tests and
demos. Tools: `echo`; `whoami` (the process id, to tell a restarted server from the old one);
`add_tool` (adds an echo-like tool and announces `notifications/tools/list_changed`);
`crash` (the process exits at once, as a crashed server would).

Run: `python -m connectors.mcp.stdio_stub` (it speaks MCP on stdin/stdout).
"""

from __future__ import annotations

import os

import anyio
import mcp_types as types
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.stdio import stdio_server

_TEXT = {
    "type": "object",
    "properties": {"text": {"type": "string", "maxLength": 10_000}},
    "required": ["text"],
    "additionalProperties": False,
}
_NONE = {"type": "object", "properties": {}, "additionalProperties": False}


def _tools() -> dict[str, types.Tool]:
    read_only = types.ToolAnnotations(read_only_hint=True)
    return {
        "echo": types.Tool(name="echo", description="Return the text.", input_schema=_TEXT, annotations=read_only),
        "whoami": types.Tool(
            name="whoami", description="The server's process id.", input_schema=_NONE, annotations=read_only
        ),
        "add_tool": types.Tool(
            name="add_tool",
            description="Add an echo-like tool with the given name.",
            input_schema={
                "type": "object",
                "properties": {"name": {"type": "string", "pattern": "^[a-z_]{1,30}$"}},
                "required": ["name"],
                "additionalProperties": False,
            },
        ),
        "crash": types.Tool(name="crash", description="Exit the server process at once.", input_schema=_NONE),
    }


def build_server() -> Server:
    tools = _tools()

    async def list_tools(
        ctx: ServerRequestContext, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        return types.ListToolsResult(tools=list(tools.values()))

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        args = params.arguments or {}
        if params.name == "crash":
            os._exit(3)
        if params.name == "whoami":
            return types.CallToolResult(
                content=[types.TextContent(text=str(os.getpid()))], structured_content={"pid": os.getpid()}
            )
        if params.name == "add_tool":
            name = str(args["name"])
            tools[name] = types.Tool(name=name, description=f"Echo, registered as {name}.", input_schema=_TEXT)
            await ctx.session.send_tool_list_changed()
            return types.CallToolResult(content=[types.TextContent(text=f"added {name}")])
        if params.name in tools:
            text = str(args.get("text", ""))
            return types.CallToolResult(content=[types.TextContent(text=text)], structured_content={"text": text})
        raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")

    return Server("stdio-stub", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


async def _main() -> None:
    server = build_server()
    async with stdio_server() as (read_stream, write_stream):
        await server.run(read_stream, write_stream, server.create_initialization_options())


def main() -> None:
    anyio.run(_main)


if __name__ == "__main__":
    main()
