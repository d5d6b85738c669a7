"""An upstream MCP server (official SDK) with the tools, resources and prompts the
official conformance suite (`@modelcontextprotocol/conformance`) expects of a server.

The suite runs against it directly and through the gateway; comparing the two shows
what the gateway changes about the protocol. Run: `python -m connectors.mcp.conformance_stub`.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import mcp_types as types
import uvicorn
from mcp import MCPError
from mcp.server import Server, ServerRequestContext
from mcp.server.transport_security import TransportSecuritySettings
from mcp.shared.exceptions import MCPDeprecationWarning
from starlette.applications import Starlette

from tests.support.mcp_app import mcp_app

# A 1x1 red PNG and a 1-sample silent WAV: the smallest valid media of each kind.
PNG = base64.b64encode(
    bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010802000000907753de"
        "0000000c4944415408d763f8cfc000000301010018dd8db00000000049454e44ae426082"
    )
).decode()
WAV = base64.b64encode(
    b"RIFF"
    + (38).to_bytes(4, "little")
    + b"WAVEfmt "
    + (16).to_bytes(4, "little")
    + bytes.fromhex("01000100401f0000803e000002001000")
    + b"data"
    + (2).to_bytes(4, "little")
    + b"\0\0"
).decode()

EMPTY_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
Context = ServerRequestContext
ToolFn = Callable[[Context, dict[str, Any]], Awaitable[list[types.ContentBlock] | types.CallToolResult]]


def _text(text: str) -> list[types.ContentBlock]:
    return [types.TextContent(text=text)]


def _embedded(uri: str, text: str, mime: str = "text/plain") -> types.EmbeddedResource:
    return types.EmbeddedResource(resource=types.TextResourceContents(uri=uri, mime_type=mime, text=text))


async def _logging(ctx: Context, args: dict[str, Any]) -> list[types.ContentBlock]:
    for step in ("started", "working", "finished"):
        await ctx.session.send_log_message("info", f"tool {step}", "conformance", related_request_id=ctx.request_id)
        await asyncio.sleep(0.05)
    return _text("logged three messages")


async def _progress(ctx: Context, args: dict[str, Any]) -> list[types.ContentBlock]:
    for value in (0, 50, 100):
        await ctx.session.report_progress(value, 100, f"{value}%")
        await asyncio.sleep(0.05)
    return _text("progress reported")


async def _sampling(ctx: Context, args: dict[str, Any]) -> list[types.ContentBlock]:
    message = types.SamplingMessage(role="user", content=types.TextContent(text=str(args.get("prompt", "Hello"))))
    result = await ctx.session.create_message([message], max_tokens=100, related_request_id=ctx.request_id)
    content = result.content if isinstance(result.content, types.TextContent) else None
    return _text(f"LLM response: {content.text if content else result.content}")


async def _elicit(ctx: Context, message: str, schema: dict[str, Any]) -> list[types.ContentBlock]:
    result = await ctx.session.elicit(message, schema, related_request_id=ctx.request_id)  # type: ignore[arg-type]
    return _text(f"User response: action={result.action}, content={json.dumps(result.content)}")


def _elicitation(ctx: Context, args: dict[str, Any]) -> Awaitable[list[types.ContentBlock]]:
    schema = {
        "type": "object",
        "properties": {
            "username": {"type": "string", "description": "User's response"},
            "email": {"type": "string", "description": "User's email address"},
        },
        "required": ["username", "email"],
    }
    return _elicit(ctx, str(args.get("message", "Please provide your information")), schema)


def _elicitation_defaults(ctx: Context, args: dict[str, Any]) -> Awaitable[list[types.ContentBlock]]:
    schema = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "default": "John Doe"},
            "age": {"type": "integer", "default": 30},
            "score": {"type": "number", "default": 95.5},
            "status": {"type": "string", "enum": ["active", "inactive", "pending"], "default": "active"},
            "verified": {"type": "boolean", "default": True},
        },
    }
    return _elicit(ctx, "Please review and update the form fields with defaults", schema)


def _elicitation_enums(ctx: Context, args: dict[str, Any]) -> Awaitable[list[types.ContentBlock]]:
    titled = [{"const": "value1", "title": "First"}, {"const": "value2", "title": "Second"}]
    schema = {
        "type": "object",
        "properties": {
            "untitledSingle": {"type": "string", "enum": ["option1", "option2", "option3"]},
            "titledSingle": {"type": "string", "oneOf": titled},
            "legacyEnum": {"type": "string", "enum": ["opt1", "opt2"], "enumNames": ["Option One", "Option Two"]},
            "untitledMulti": {"type": "array", "items": {"type": "string", "enum": ["option1", "option2"]}},
            "titledMulti": {"type": "array", "items": {"anyOf": titled}},
        },
    }
    return _elicit(ctx, "Please select options", schema)


async def _constant(blocks: list[types.ContentBlock]) -> list[types.ContentBlock]:
    return blocks


async def _error(ctx: Context, args: dict[str, Any]) -> types.CallToolResult:
    return types.CallToolResult(content=_text("This tool intentionally returns an error for testing"), is_error=True)


JSON_2020_12 = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "$defs": {"address": {"type": "object", "properties": {"street": {"type": "string"}, "city": {"type": "string"}}}},
    "properties": {"name": {"type": "string"}, "address": {"$ref": "#/$defs/address"}},
    "additionalProperties": False,
}
_MIXED: list[types.ContentBlock] = [
    types.TextContent(text="Multiple content types test:"),
    types.ImageContent(data=PNG, mime_type="image/png"),
    _embedded("test://mixed-content-resource", '{"test":"data","value":123}', "application/json"),
]
TOOLS: dict[str, tuple[str, dict[str, Any], ToolFn]] = {
    "test_simple_text": (
        "Returns simple text",
        EMPTY_SCHEMA,
        lambda c, a: _constant(_text("This is a simple text response for testing.")),
    ),
    "test_image_content": (
        "Returns an image",
        EMPTY_SCHEMA,
        lambda c, a: _constant([types.ImageContent(data=PNG, mime_type="image/png")]),
    ),
    "test_audio_content": (
        "Returns audio",
        EMPTY_SCHEMA,
        lambda c, a: _constant([types.AudioContent(data=WAV, mime_type="audio/wav")]),
    ),
    "test_embedded_resource": (
        "Returns an embedded resource",
        EMPTY_SCHEMA,
        lambda c, a: _constant([_embedded("test://embedded-resource", "This is an embedded resource content.")]),
    ),
    "test_multiple_content_types": ("Returns text, image and resource", EMPTY_SCHEMA, lambda c, a: _constant(_MIXED)),
    "test_tool_with_logging": ("Sends three log messages", EMPTY_SCHEMA, _logging),
    "test_tool_with_progress": ("Reports progress three times", EMPTY_SCHEMA, _progress),
    "test_error_handling": ("Always fails", EMPTY_SCHEMA, _error),
    "test_sampling": (
        "Asks the client's LLM",
        {"type": "object", "properties": {"prompt": {"type": "string"}}, "required": ["prompt"]},
        _sampling,
    ),
    "test_elicitation": (
        "Asks the user",
        {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]},
        _elicitation,
    ),
    "test_elicitation_sep1034_defaults": ("Asks with defaults", EMPTY_SCHEMA, _elicitation_defaults),
    "test_elicitation_sep1330_enums": ("Asks with enums", EMPTY_SCHEMA, _elicitation_enums),
    "json_schema_2020_12_tool": (
        "Tool with JSON Schema 2020-12 features",
        JSON_2020_12,
        lambda c, a: _constant(_text("ok")),
    ),
}

RESOURCES = [
    types.Resource(uri="test://static-text", name="static-text", description="A text resource", mime_type="text/plain"),
    types.Resource(uri="test://static-binary", name="static-binary", description="A PNG", mime_type="image/png"),
    types.Resource(uri="test://watched-resource", name="watched", description="Subscribable", mime_type="text/plain"),
]
TEMPLATE = types.ResourceTemplate(
    uri_template="test://template/{id}/data", name="template", description="Data by id", mime_type="application/json"
)


def _read(uri: str) -> types.ReadResourceResult:
    if uri == "test://static-text":
        text = "This is the content of the static text resource."
        contents: list[Any] = [types.TextResourceContents(uri=uri, mime_type="text/plain", text=text)]
    elif uri == "test://static-binary":
        contents = [types.BlobResourceContents(uri=uri, mime_type="image/png", blob=PNG)]
    elif uri == "test://watched-resource":
        contents = [types.TextResourceContents(uri=uri, mime_type="text/plain", text="watched")]
    elif uri.startswith("test://template/") and uri.endswith("/data"):
        item = uri.removeprefix("test://template/").removesuffix("/data")
        data = json.dumps({"id": item, "templateTest": True, "data": f"Data for ID: {item}"})
        contents = [types.TextResourceContents(uri=uri, mime_type="application/json", text=data)]
    else:
        raise MCPError(types.INVALID_PARAMS, f"Resource not found: {uri}")
    return types.ReadResourceResult(contents=contents)


PROMPTS = [
    types.Prompt(name="test_simple_prompt", description="A simple prompt"),
    types.Prompt(
        name="test_prompt_with_arguments",
        description="A prompt with arguments",
        arguments=[
            types.PromptArgument(name="arg1", description="First argument", required=True),
            types.PromptArgument(name="arg2", description="Second argument", required=True),
        ],
    ),
    types.Prompt(
        name="test_prompt_with_embedded_resource",
        description="A prompt with an embedded resource",
        arguments=[types.PromptArgument(name="resourceUri", description="URI to embed", required=True)],
    ),
    types.Prompt(name="test_prompt_with_image", description="A prompt with an image"),
]


def _prompt(name: str, args: dict[str, str]) -> types.GetPromptResult:
    def user(content: Any) -> types.PromptMessage:
        return types.PromptMessage(role="user", content=content)

    if name == "test_simple_prompt":
        messages = [user(types.TextContent(text="This is a simple prompt for testing."))]
    elif name == "test_prompt_with_arguments":
        text = f"Prompt with arguments: arg1='{args.get('arg1', '')}', arg2='{args.get('arg2', '')}'"
        messages = [user(types.TextContent(text=text))]
    elif name == "test_prompt_with_embedded_resource":
        uri = args.get("resourceUri", "test://example-resource")
        messages = [
            user(_embedded(uri, "Embedded resource content for testing.")),
            user(types.TextContent(text="Please process the embedded resource above.")),
        ]
    elif name == "test_prompt_with_image":
        messages = [
            user(types.ImageContent(data=PNG, mime_type="image/png")),
            user(types.TextContent(text="Please analyze the image above.")),
        ]
    else:
        raise MCPError(types.INVALID_PARAMS, f"Unknown prompt: {name}")
    return types.GetPromptResult(messages=messages)


def build_server() -> Server:
    subscriptions: set[str] = set()

    async def list_tools(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(
            tools=[types.Tool(name=n, description=d, input_schema=s) for n, (d, s, _) in TOOLS.items()]
        )

    async def call_tool(ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        if params.name not in TOOLS:
            raise MCPError(types.INVALID_PARAMS, f"Unknown tool: {params.name}")
        result = await TOOLS[params.name][2](ctx, params.arguments or {})
        return result if isinstance(result, types.CallToolResult) else types.CallToolResult(content=result)

    async def list_resources(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=RESOURCES)

    async def list_templates(
        ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        return types.ListResourceTemplatesResult(resource_templates=[TEMPLATE])

    async def read_resource(ctx: Context, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        return _read(str(params.uri))

    async def subscribe(ctx: Context, params: types.SubscribeRequestParams) -> types.EmptyResult:
        subscriptions.add(str(params.uri))
        return types.EmptyResult()

    async def unsubscribe(ctx: Context, params: types.UnsubscribeRequestParams) -> types.EmptyResult:
        subscriptions.discard(str(params.uri))
        return types.EmptyResult()

    async def list_prompts(ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=PROMPTS)

    async def get_prompt(ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        return _prompt(params.name, params.arguments or {})

    async def complete(ctx: Context, params: types.CompleteRequestParams) -> types.CompleteResult:
        return types.CompleteResult(completion=types.Completion(values=[], total=0, has_more=False))

    async def set_level(ctx: Context, params: types.SetLevelRequestParams) -> types.EmptyResult:
        return types.EmptyResult()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MCPDeprecationWarning)
        return Server(
            "conformance-upstream",
            version="1.0",
            on_list_tools=list_tools,
            on_call_tool=call_tool,
            get_tool_input_schema=lambda name: TOOLS[name][1] if name in TOOLS else None,
            on_list_resources=list_resources,
            on_list_resource_templates=list_templates,
            on_read_resource=read_resource,
            on_subscribe_resource=subscribe,
            on_unsubscribe_resource=unsubscribe,
            on_list_prompts=list_prompts,
            on_get_prompt=get_prompt,
            on_completion=complete,
            on_set_logging_level=set_level,
        )


def create_app() -> Starlette:
    # DNS-rebinding protection as a loopback server should have (a conformance scenario).
    security = TransportSecuritySettings(
        enable_dns_rebinding_protection=True,
        allowed_hosts=["127.0.0.1:*", "localhost:*", "[::1]:*"],
        allowed_origins=["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"],
    )
    return mcp_app(build_server(), security)


def main() -> None:
    parser = argparse.ArgumentParser(description="MCP upstream with the conformance suite's tools, resources, prompts")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8103)
    args = parser.parse_args()
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
