"""The OpenAPI 3.1 document of the tools one caller may use, built from the live catalog:
every tool is one operation whose request body is its input schema."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from gateway import __version__
from gateway.models import ToolSpec
from gateway.problems import PROBLEM_MEDIA_TYPE
from gateway.rest.prefer import CALLS_PATH

TOOLS_PATH = "/v1/tools"


def call_path(tool: str) -> str:
    return f"{TOOLS_PATH}/{tool}:call"


def operation_id(tool: str) -> str:
    # Toolkits turn operation ids into function names: `[A-Za-z0-9_-]` only (OpenAI's rule).
    return re.sub(r"[^A-Za-z0-9_-]", "_", tool.replace(".", "__"))


_PROBLEM = {
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "call_id": {"type": "string"},
        "approval_id": {"type": "string"},
    },
}
_CALL_RESULT = {
    "type": "object",
    "required": ["call_id", "tool", "content", "is_error"],
    "properties": {
        "call_id": {"type": "string"},
        "tool": {"type": "string"},
        "content": {"type": "array", "items": {"type": "object", "required": ["type"]}},
        "structured_content": {"type": ["object", "null"]},
        "is_error": {"type": "boolean", "description": "true when the tool ran and reported a failure"},
        "replayed": {
            "type": "boolean",
            "description": "present and true when this is the stored answer of an earlier request (Idempotency-Key)",
        },
        "replay_of": {"type": ["string", "null"], "description": "for a replay: the call id that produced the answer"},
        "approval_id": {
            "type": "string",
            "description": "with replayed: the stored result of this approved call's single execution",
        },
    },
}
_TOOL = {
    "type": "object",
    "required": ["name", "description", "input_schema", "read_only", "may_need_approval", "call_path"],
    "properties": {
        "name": {"type": "string"},
        "title": {"type": ["string", "null"]},
        "description": {"type": "string"},
        "input_schema": {"type": "object"},
        "read_only": {"type": "boolean"},
        "may_need_approval": {
            "type": "boolean",
            "description": "The policy may hold some call of this tool by this caller for human approval",
        },
        "call_path": {"type": "string"},
    },
}
_CALL_STATUS = {
    "type": "object",
    "required": ["approval_id", "tool", "status", "message", "expires_at"],
    "properties": {
        "approval_id": {"type": "string"},
        "tool": {"type": "string"},
        "status": {"enum": ["pending", "approved", "executing", "completed", "denied", "expired", "superseded"]},
        "message": {"type": "string"},
        "expires_at": {"type": "number"},
        "execute_by": {"type": "number", "description": "approved: the end of its execution window"},
        "result": {"type": "object"},
    },
}
_CALL_FAILURES = {
    "202": "Held for human approval and not decided in time; Location is the call's status resource",
    "400": "Malformed JSON body, Idempotency-Key or Gateway-Dry-Run header",
    "403": "Denied by policy, the agent is suspended, or the call needs an approval this gateway cannot hold",
    "404": "No such tool",
    "409": "A request with this Idempotency-Key is still running",
    "413": "Request body too large",
    "415": "Body is not application/json",
    "422": "Arguments do not match the tool's input schema, or the Idempotency-Key was used for another request",
    "429": "A rate limit refused the call (Retry-After says when to try again)",
    "502": "The backend failed",
    "503": "The audit log or the rate-limit store is unavailable, so nothing was forwarded",
    "504": "The backend did not answer in time",
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def tool_summary(spec: ToolSpec, may_need_approval: bool) -> dict[str, Any]:
    return {
        "name": spec.qualified_name,
        "title": spec.title,
        "description": spec.description,
        "input_schema": dict(spec.input_schema),
        "read_only": spec.read_only,
        "may_need_approval": may_need_approval,
        "call_path": call_path(spec.qualified_name),
    }


def _operation(spec: ToolSpec) -> dict[str, Any]:
    return {
        "operationId": operation_id(spec.qualified_name),
        "summary": spec.title or spec.qualified_name,
        "description": spec.description,
        "tags": [spec.connector],
        "parameters": [
            {"$ref": "#/components/parameters/IdempotencyKey"},
            {"$ref": "#/components/parameters/Prefer"},
            {"$ref": "#/components/parameters/DryRun"},
        ],
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": dict(spec.input_schema)}},
        },
        "responses": {
            "200": {
                "description": "The tool ran (is_error tells whether it reported a failure)",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallResult"}}},
            },
            "401": {"$ref": "#/components/responses/Unauthorized"},
            **{status: _problem(text) for status, text in _CALL_FAILURES.items()},
        },
    }


#: GET /v1/tools: what this caller may use.
_LIST_TOOLS = {
    "get": {
        "operationId": "list_tools",
        "summary": "The tools this caller may use",
        "responses": {
            "200": {
                "description": "Tools with their input schemas",
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "required": ["tools"],
                            "properties": {"tools": {"type": "array", "items": {"$ref": "#/components/schemas/Tool"}}},
                        }
                    }
                },
            },
            "401": {"$ref": "#/components/responses/Unauthorized"},
        },
    }
}
#: GET /v1/calls/{approval_id}: a held call's state, and its result once executed.
_CALL_STATUS_OPERATION = {
    "get": {
        "operationId": "call_status",
        "summary": "The state of one of your calls held for approval, and its result once executed",
        "parameters": [{"name": "approval_id", "in": "path", "required": True, "schema": {"type": "string"}}],
        "responses": {
            "200": {
                "description": "pending, approved, executing, completed (with result), denied, expired, superseded",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/CallStatus"}}},
            },
            "401": {"$ref": "#/components/responses/Unauthorized"},
            "404": _problem("No held call of this caller has this approval id"),
        },
    }
}
#: The headers every tool operation takes, the bearer scheme and the shared schemas.
_COMPONENTS = {
    "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
    "parameters": {
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "description": (
                "Makes a retry safe: the same key with the same body gets the first answer, after the"
                " policy in force decided the retry again; a replay carries Idempotent-Replayed: true"
            ),
            "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[\\x20-\\x7e]+$"},
        },
        "Prefer": {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "description": "respond-async: answer 202 at once when the call is held; wait=N: hold at most N s",
            "schema": {"type": "string"},
        },
        "DryRun": {
            "name": "Gateway-Dry-Run",
            "in": "header",
            "required": False,
            "description": "true: report what the call would do (decision, rule, approvals, the backend's test"
            " run where it has one) without holding or forwarding it",
            "schema": {"type": "string", "enum": ["true", "false"]},
        },
    },
    "responses": {"Unauthorized": _problem("Missing, invalid or expired bearer token")},
    "schemas": {"Problem": _PROBLEM, "CallResult": _CALL_RESULT, "CallStatus": _CALL_STATUS, "Tool": _TOOL},
}


def openapi_document(specs: Iterable[ToolSpec], server_url: str) -> dict[str, Any]:
    paths: dict[str, Any] = {TOOLS_PATH: _LIST_TOOLS, CALLS_PATH + "/{approval_id}": _CALL_STATUS_OPERATION}
    for spec in specs:
        paths[call_path(spec.qualified_name)] = {"post": _operation(spec)}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Agent governance gateway",
            "version": __version__,
            "description": "Governed tools: each call is checked by policy, may need human approval, and is audited.",
        },
        "servers": [{"url": server_url}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": _COMPONENTS,
    }
