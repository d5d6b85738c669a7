from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from starlette.applications import Starlette

from connectors.base import BackendError, CallContext, Connector, create_connector
from connectors.openapi.spec import SpecError, operations
from connectors.openapi.stub import DOCUMENT, create_app
from connectors.stubkit import serve_app
from gateway.config import ConfigError, ConnectorSettings
from gateway.models import Principal
from gateway.serving import free_port

TOKEN = "helpdesk-token"


def context() -> CallContext:
    return CallContext(call_id="c", principal=Principal("support-bot"), traceparent="", timeout=5.0)


def settings(spec: str, **options: Any) -> ConnectorSettings:
    return ConnectorSettings(
        "helpdesk",
        "openapi",
        5.0,
        {
            "spec": spec,
            "auth": {"kind": "bearer", "token": "${env:HELPDESK_TEST_TOKEN}"},
            "on_behalf_of_header": "x-on-behalf-of",
            **options,
        },
    )


@dataclass
class Helpdesk:
    app: Starlette
    url: str
    connector: Connector

    async def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        result = await self.connector.call(tool, arguments, context())
        assert result.structured is not None
        return dict(result.structured)


@pytest.fixture
async def helpdesk(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Helpdesk]:
    monkeypatch.setenv("HELPDESK_TEST_TOKEN", TOKEN)
    app = create_app(token=TOKEN)
    async with serve_app(app) as base_url:
        connector = create_connector(settings(base_url + "/openapi.json"))
        await connector.start()
        try:
            yield Helpdesk(app, base_url, connector)
        finally:
            await connector.close()


async def test_operations_become_tools_with_json_schemas(helpdesk: Helpdesk) -> None:
    specs = {s.name: s for s in await helpdesk.connector.tools()}
    # uploadAttachment takes multipart data, which cannot be a tool: it is left out.
    assert set(specs) == {"listTickets", "createTicket", "getTicket", "updateTicket", "deleteTicket"}
    assert {n for n, s in specs.items() if s.read_only} == {"listTickets", "getTicket"}
    for spec in specs.values():
        jsonschema.Draft202012Validator.check_schema(spec.input_schema)
    assert specs["getTicket"].input_schema["properties"] == {
        "ticket_id": {"type": "integer", "minimum": 1, "description": "Ticket number"}
    }
    assert specs["getTicket"].input_schema["required"] == ["ticket_id"]
    listing = specs["listTickets"].input_schema["properties"]
    assert set(listing) == {"status", "limit", "X-Correlation-Id"}  # Accept is the client's, not the agent's
    assert listing["limit"] == {"type": "integer", "minimum": 1, "maximum": 50}
    body = specs["createTicket"].input_schema["properties"]["body"]
    assert body["properties"]["priority"] == {"type": "string", "enum": ["low", "normal", "high"]}
    assert "example" not in body["properties"]["description"]
    assert specs["updateTicket"].input_schema["properties"]["body"]["properties"]["assignee"]["type"] == [
        "string",
        "null",
    ]
    validator = jsonschema.Draft202012Validator(specs["createTicket"].input_schema)
    assert [e.message for e in validator.iter_errors({"body": {"title": "ok?", "priority": "urgent"}})] == [
        "'urgent' is not one of ['low', 'normal', 'high']"
    ]
    assert specs["listTickets"].description == "List tickets, newest first."


async def test_calls_map_arguments_to_the_request(helpdesk: Helpdesk) -> None:
    listed = await helpdesk.call("listTickets", status="open", limit=10, **{"X-Correlation-Id": "corr-7"})
    assert [t["id"] for t in listed["items"]] == [1]
    request = helpdesk.app.state.requests[-1]
    assert (request.path, request.query) == ("/api/v1/tickets", "status=open&limit=10")
    assert request.headers["x-correlation-id"] == "corr-7"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert request.headers["x-on-behalf-of"] == "support-bot"

    created = await helpdesk.call("createTicket", body={"title": "Screen flickers", "priority": "low"})
    assert (created["id"], created["status"], created["priority"]) == (3, "open", "low")
    updated = await helpdesk.call("updateTicket", ticket_id=3, body={"status": "closed", "assignee": None})
    assert updated["status"] == "closed"
    assert helpdesk.app.state.requests[-1].headers["content-type"] == "application/merge-patch+json"
    with pytest.raises(BackendError, match=r"^ticket 3 is closed and cannot change \(HTTP 409\)$"):
        await helpdesk.connector.call("updateTicket", {"ticket_id": 3, "body": {"status": "open"}}, context())
    assert await helpdesk.call("deleteTicket", ticket_id=3) == {"status": 204}
    with pytest.raises(BackendError, match=r"ticket 3 does not exist \(HTTP 404\)"):
        await helpdesk.connector.call("getTicket", {"ticket_id": 3}, context())


async def test_operation_subset_and_document_from_a_file(helpdesk: Helpdesk, tmp_path: Path) -> None:
    spec_file = tmp_path / "helpdesk.yaml"
    spec_file.write_text(yaml.safe_dump(DOCUMENT))
    connector = create_connector(
        settings(str(spec_file), base_url=helpdesk.url + "/api/v1", operations=["getTicket", "listTickets"])
    )
    await connector.start()
    try:
        assert sorted(s.name for s in await connector.tools()) == ["getTicket", "listTickets"]
        result = await connector.call("getTicket", {"ticket_id": 2}, context())
        assert result.structured is not None and result.structured["assignee"] == "it-ops"
        with pytest.raises(BackendError, match="unknown tool 'createTicket'"):
            await connector.call("createTicket", {"body": {"title": "x"}}, context())
    finally:
        await connector.close()

    with pytest.raises(ConfigError, match=r"^connectors\.helpdesk\.spec: .*operation 'closeAll' is not in the"):
        create_connector(settings(str(spec_file), base_url="http://x", operations=["closeAll"]))
    with pytest.raises(ConfigError, match=r"paths\./attachments\.post: only JSON request bodies are supported"):
        create_connector(settings(str(spec_file), base_url="http://x", operations=["uploadAttachment"]))
    with pytest.raises(ConfigError, match=r"^connectors\.helpdesk\.base_url: required, .* '/api/v1' is relative"):
        create_connector(settings(str(spec_file)))
    with pytest.raises(ConfigError, match=r"^connectors\.helpdesk\.spec: cannot read"):
        create_connector(settings(str(tmp_path / "missing.yaml")))


async def test_document_fetched_once_the_api_is_up(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HELPDESK_TEST_TOKEN", TOKEN)
    port = free_port()
    connector = create_connector(settings(f"http://127.0.0.1:{port}/openapi.json"))
    await connector.start()  # the API is down: starting must still succeed
    assert await connector.tools() == []
    health = await connector.health()
    assert not health.healthy and "OpenAPI document not loaded" in health.detail
    async with serve_app(create_app(token=TOKEN), port=port):
        assert len(await connector.tools()) == 5
        assert (await connector.health()).healthy
    await connector.close()
    await asyncio.sleep(0)


def test_openapi_dialect_is_rewritten() -> None:
    document = {
        "openapi": "3.0.0",
        "paths": {
            "/n/{id}": {
                "put": {
                    "operationId": "put node",
                    "parameters": [
                        {"name": "id", "in": "path", "schema": {"type": "string"}},
                        {
                            "name": "id",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 0, "exclusiveMinimum": True},
                        },
                    ],
                    "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Node"}}}},
                }
            }
        },
        "components": {
            "schemas": {
                "Node": {
                    "type": "object",
                    "nullable": True,
                    "properties": {
                        "kind": {"type": "string", "enum": ["a", "b"], "nullable": True},
                        "child": {"$ref": "#/components/schemas/Node"},
                    },
                }
            }
        },
    }
    (op,) = operations(document)
    assert op.tool == "put_node" and not op.read_only
    props = op.input_schema["properties"]
    assert props["path_id"] == {"type": "string"}
    assert props["query_id"] == {"type": "integer", "exclusiveMinimum": 0}
    assert props["body"]["type"] == ["object", "null"]
    assert props["body"]["properties"]["kind"] == {"type": ["string", "null"], "enum": ["a", "b", None]}
    assert props["body"]["properties"]["child"] == {}  # a recursive type is cut where it repeats
    assert op.input_schema["required"] == ["path_id"]
    with pytest.raises(SpecError, match="not an OpenAPI 3 document"):
        operations({"swagger": "2.0"})
