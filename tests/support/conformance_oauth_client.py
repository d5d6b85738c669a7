"""The `mcp` connector as the client under test of the conformance suite's authorization
scenarios: `conformance client --command "python -m tests.support.conformance_oauth_client"`.

The suite appends the scenario server's URL and puts the scenario's credentials in
MCP_CONFORMANCE_CONTEXT. This builds the connector from a config stanza the way the gateway
does (`connectors.mcp.create`), lists the tools and calls the first one: the same sign-in,
discovery and step-up code that serves agents. Scenarios that hand out no credentials get
a made-up pre-registered client (their servers accept any). Exit 0 when the call succeeded.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from typing import Any

from connectors.base import CallContext
from connectors.mcp import create
from connectors.mcp.upstream import McpConnector
from gateway.config import ConnectorSettings
from gateway.events import EventBus
from gateway.models import Principal

#: The client a scenario without credentials of its own is signed in as.
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
STAND_IN = {"client_id": "gateway-conformance", "client_secret": "gateway-conformance-secret"}


def auth_options(context: dict[str, Any]) -> dict[str, Any]:
    """The connector's `auth` stanza for the scenario's credentials."""
    auth: dict[str, Any] = {"kind": "oauth_client_credentials", "client_id": context.get("client_id")}
    if "private_key_pem" in context:
        auth |= {"private_key": context["private_key_pem"], "private_key_alg": context.get("signing_algorithm")}
    elif "client_secret" in context:
        auth["client_secret"] = context["client_secret"]
    else:
        auth |= STAND_IN
    return {k: v for k, v in auth.items() if v is not None}


async def run(url: str, context: dict[str, Any]) -> None:
    settings = ConnectorSettings("conformance", "mcp", 10.0, {"url": url, "auth": auth_options(context)})
    connector = create(settings, EventBus())
    assert isinstance(connector, McpConnector)
    await connector.start()
    try:
        tools = await connector.tools()
        caller = CallContext("call-1", Principal(subject="agent", issuer="conformance"), TRACEPARENT, timeout=10.0)
        result = await connector.call(tools[0].name, {}, caller)
        print(f"called {tools[0].name}: {result.content}")
    finally:
        await connector.close()


def main() -> None:
    context = json.loads(os.environ.get("MCP_CONFORMANCE_CONTEXT") or "{}")
    try:
        asyncio.run(run(sys.argv[-1], context))
    except Exception as exc:  # the suite reads the exit code; stderr says why
        sys.exit(f"{type(exc).__name__}: {exc}")


if __name__ == "__main__":
    main()
