"""A stub HTTP API described by an OpenAPI 3.0 document: a small helpdesk ticket service.
It serves its own document at `/openapi.json`, requires a bearer API token, and answers
errors as `{"detail": ...}`.

Run alone: `python -m connectors.openapi.stub --port 8104` (token from HELPDESK_TOKEN,
default `demo`). In tests: `async with serve_app(create_app(token="t")) as base_url:`; the
stanza's spec is `base_url + "/openapi.json"`; `app.state.requests` lists what it received.
`create_app(token=None)` asks for no token: served with client certificates required
(`serve_app(app, tls=ServerTls(..., client_ca_file=...))`), the certificate is the credential.
"""

from __future__ import annotations

import os
import secrets
from contextlib import AbstractAsyncContextManager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from connectors.auth import BearerAuth
from connectors.openapi.options import OpenApiOptions
from connectors.stubkit import run_stub, serve_if_local, stub_app, stub_arguments
from gateway.config import ConnectorSettings

STATUSES = ["open", "in_progress", "closed"]
PRIORITIES = ["low", "normal", "high"]

DOCUMENT: dict[str, Any] = {
    "openapi": "3.0.3",
    "info": {"title": "Helpdesk", "version": "1.4.0"},
    "servers": [{"url": "/api/v1"}],
    "components": {
        "securitySchemes": {"token": {"type": "http", "scheme": "bearer"}},
        "parameters": {
            "TicketId": {
                "name": "ticket_id",
                "in": "path",
                "required": True,
                "schema": {"type": "integer", "minimum": 1},
                "description": "Ticket number",
            },
        },
        "schemas": {
            "Priority": {"type": "string", "enum": PRIORITIES},
            "NewTicket": {
                "type": "object",
                "required": ["title"],
                "additionalProperties": False,
                "properties": {
                    "title": {"type": "string", "minLength": 3, "maxLength": 120},
                    "description": {"type": "string", "maxLength": 2000, "example": "Printer on fire"},
                    "priority": {"$ref": "#/components/schemas/Priority"},
                    "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "maxItems": 5},
                },
            },
            "TicketUpdate": {
                "type": "object",
                "additionalProperties": False,
                "minProperties": 1,
                "properties": {
                    "status": {"type": "string", "enum": STATUSES},
                    "assignee": {"type": "string", "nullable": True, "maxLength": 40},
                },
            },
            "Ticket": {
                "allOf": [{"$ref": "#/components/schemas/NewTicket"}],
                "properties": {"id": {"type": "integer"}, "status": {"type": "string"}},
            },
        },
    },
    "security": [{"token": []}],
    "paths": {
        "/tickets": {
            "get": {
                "operationId": "listTickets",
                "summary": "List tickets, newest first.",
                "parameters": [
                    {"name": "status", "in": "query", "schema": {"type": "string", "enum": STATUSES}},
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 50, "exclusiveMaximum": False},
                    },
                    {"name": "X-Correlation-Id", "in": "header", "schema": {"type": "string", "maxLength": 64}},
                    {"name": "Accept", "in": "header", "schema": {"type": "string"}},
                ],
                "responses": {"200": {"description": "tickets"}},
            },
            "post": {
                "operationId": "createTicket",
                "summary": "Open a ticket.",
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/NewTicket"}}},
                },
                "responses": {"201": {"description": "created"}},
            },
        },
        "/tickets/{ticket_id}": {
            "parameters": [{"$ref": "#/components/parameters/TicketId"}],
            "get": {
                "operationId": "getTicket",
                "summary": "Read one ticket.",
                "responses": {"200": {"description": "the ticket"}},
            },
            "patch": {
                "operationId": "updateTicket",
                "summary": "Change a ticket's status or assignee.",
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/merge-patch+json": {"schema": {"$ref": "#/components/schemas/TicketUpdate"}}
                    },
                },
                "responses": {"200": {"description": "updated"}},
            },
            "delete": {
                "operationId": "deleteTicket",
                "summary": "Delete a ticket.",
                "responses": {"204": {"description": "deleted"}},
            },
        },
        "/attachments": {
            "post": {
                "operationId": "uploadAttachment",
                "summary": "Upload a file.",
                "requestBody": {"content": {"multipart/form-data": {"schema": {"type": "object"}}}},
                "responses": {"201": {"description": "stored"}},
            },
        },
    },
}


def _detail(status: int, message: str) -> JSONResponse:
    return JSONResponse({"detail": message}, status_code=status)


def create_app(*, token: str | None = "demo") -> Starlette:
    tickets: dict[int, dict[str, Any]] = {
        1: {
            "id": 1,
            "title": "VPN drops every hour",
            "description": "",
            "priority": "high",
            "tags": ["network"],
            "status": "open",
            "assignee": None,
        },
        2: {
            "id": 2,
            "title": "New laptop for Sam",
            "description": "",
            "priority": "normal",
            "tags": [],
            "status": "in_progress",
            "assignee": "it-ops",
        },
    }

    def authorized(request: Request) -> bool:
        if token is None:
            return True  # the TLS layer checked the client's certificate
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        return scheme.lower() == "bearer" and secrets.compare_digest(given, token)

    async def document(request: Request) -> Response:
        return JSONResponse(DOCUMENT)

    async def collection(request: Request) -> Response:
        if not authorized(request):
            return _detail(401, "missing or invalid API token")
        if request.method == "GET":
            status = request.query_params.get("status")
            limit = int(request.query_params.get("limit", "50"))
            found = [t for t in sorted(tickets.values(), key=lambda t: -t["id"]) if status in (None, t["status"])]
            return JSONResponse(found[:limit])
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("title"), str) or len(body["title"]) < 3:
            return _detail(422, "title: at least 3 characters are required")
        ticket = {
            "id": max(tickets) + 1,
            "description": "",
            "priority": "normal",
            "tags": [],
            **body,
            "status": "open",
            "assignee": None,
        }
        tickets[ticket["id"]] = ticket
        return JSONResponse(ticket, status_code=201)

    async def item(request: Request) -> Response:
        if not authorized(request):
            return _detail(401, "missing or invalid API token")
        ticket = tickets.get(request.path_params["ticket_id"])
        if ticket is None:
            return _detail(404, f"ticket {request.path_params['ticket_id']} does not exist")
        if request.method == "PATCH":
            changes = await request.json()
            if ticket["status"] == "closed":
                return _detail(409, f"ticket {ticket['id']} is closed and cannot change")
            ticket.update({k: v for k, v in changes.items() if k in ("status", "assignee")})
        elif request.method == "DELETE":
            del tickets[ticket["id"]]
            return Response(status_code=204)
        return JSONResponse(ticket)

    app = stub_app(
        [
            Route("/openapi.json", document),
            Route("/api/v1/tickets", collection, methods=["GET", "POST"]),
            Route("/api/v1/tickets/{ticket_id:int}", item, methods=["GET", "PATCH", "DELETE"]),
        ]
    )
    app.state.tickets = tickets
    return app


def serve_for(settings: ConnectorSettings) -> AbstractAsyncContextManager[str | None]:
    """For `gateway demo`: this stub where the stanza points, when that is this machine,
    accepting the stanza's own credentials; yields its base URL, or None if not started."""
    auth = OpenApiOptions.of(settings).auth
    token = auth.token.get_secret_value() if isinstance(auth, BearerAuth) else "demo"
    return serve_if_local(OpenApiOptions.of(settings).spec, lambda: create_app(token=token))


def main() -> None:
    args = stub_arguments("Helpdesk API stub with an OpenAPI 3.0 document", 8104).parse_args()
    run_stub(create_app(token=os.environ.get("HELPDESK_TOKEN", "demo")), args)


if __name__ == "__main__":
    main()
