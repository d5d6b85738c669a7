"""An upstream MCP server for the attack tests: prompts with argument completion (one hangs),
a resource agents may subscribe to, and a record of every request that reached it, so a
test can tell what the gateway let through. Every answer names its server in `_meta`,
as 2026-07-28 servers do, to show whether the gateway passes that on."""

from __future__ import annotations

import asyncio
from typing import Any

import mcp_types as types
from mcp.server import Server, ServerRequestContext
from starlette.applications import Starlette

from tests.support.mcp_app import mcp_app

SERVER_INFO = {"io.modelcontextprotocol/serverInfo": {"name": "payments-upstream", "version": "9.9"}}
PROMPTS = [
    types.Prompt(name="greet", arguments=[types.PromptArgument(name="who")]),
    types.Prompt(name="transfer", arguments=[types.PromptArgument(name="iban")]),
    # Hangs: a backend that stopped answering.
    types.Prompt(name="hang"),
]
LEDGER = types.Resource(uri="ledger://today", name="ledger")


def create_app() -> Starlette:
    seen: list[str] = []

    async def list_prompts(ctx: ServerRequestContext, params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=PROMPTS)

    async def get_prompt(ctx: ServerRequestContext, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        seen.append(f"prompts/get {params.name}")
        if params.name == "hang":
            await asyncio.sleep(30)
        message = types.PromptMessage(role="user", content=types.TextContent(text=f"{params.name}"))
        return types.GetPromptResult(messages=[message], meta=SERVER_INFO)

    async def complete(ctx: ServerRequestContext, params: types.CompleteRequestParams) -> types.CompleteResult:
        name = params.ref.name if isinstance(params.ref, types.PromptReference) else params.ref.uri
        seen.append(f"completion/complete {name} {params.argument.name}={params.argument.value}")
        values = ["DE89370400440532013000", "DE02120300000000202051"]
        completion = types.Completion(values=[v for v in values if v.startswith(params.argument.value)])
        return types.CompleteResult(completion=completion, meta=SERVER_INFO)

    async def list_resources(ctx: ServerRequestContext, params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[LEDGER])

    async def read_resource(
        ctx: ServerRequestContext, params: types.ReadResourceRequestParams
    ) -> types.ReadResourceResult:
        seen.append(f"resources/read {params.uri}")
        contents = [types.TextResourceContents(uri=str(params.uri), text="balance 1,000,000 EUR")]
        return types.ReadResourceResult(contents=contents, meta=SERVER_INFO)

    async def subscribe(ctx: ServerRequestContext, params: types.SubscribeRequestParams) -> types.EmptyResult:
        seen.append(f"resources/subscribe {params.uri}")
        return types.EmptyResult()

    async def unsubscribe(ctx: ServerRequestContext, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        seen.append(f"resources/unsubscribe {params.uri}")
        return types.EmptyResult()

    async def list_tools(ctx: ServerRequestContext, params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name="noop", input_schema={"type": "object"})])

    async def call_tool(ctx: ServerRequestContext, params: types.CallToolRequestParams) -> types.CallToolResult:
        seen.append(f"tools/call {params.name}")
        return types.CallToolResult(content=[types.TextContent(text="ok")])

    server = Server(
        "payments-upstream",
        on_list_prompts=list_prompts,
        on_get_prompt=get_prompt,
        on_completion=complete,
        on_list_resources=list_resources,
        on_read_resource=read_resource,
        on_subscribe_resource=subscribe,
        on_unsubscribe_resource=unsubscribe,
        on_list_tools=list_tools,
        on_call_tool=call_tool,
    )
    app = mcp_app(server)
    app.state.seen = seen
    return app
