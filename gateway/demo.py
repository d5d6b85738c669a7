"""`gateway serve` and `gateway demo`: the gateway, and for the demo the stub backend of
every connector whose URL points at this machine, in one process."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import signal
from types import ModuleType

from gateway.app import build_app
from gateway.config import ConnectorSettings, GatewayConfig
from gateway.identity import TokenVerifier
from gateway.runtime import Gateway
from gateway.serving import running, settle_heap

#: What the printed demo token may do under the shipped policies (policies/policy.csv).
DEMO_ROLES = ("procurement-agent", "agent-readonly", "support-agent", "tester")


def _handle_signals(gateway: Gateway) -> asyncio.Event:
    """SIGHUP reloads the policy files; SIGINT and SIGTERM set the returned event. Installed
    before the gateway serves: a signal sent once /readyz answers finds its handler."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[object]] = set()

    def reload() -> None:
        task = asyncio.create_task(gateway.reload_policy("SIGHUP"))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGHUP, reload)
    return stop


async def run_gateway(config: GatewayConfig) -> None:
    gateway = await Gateway.open(config)
    try:
        app = build_app(gateway)
        stop = _handle_signals(gateway)
        settle_heap()
        async with running(app, config.server.host, config.server.port, config.guards) as url:
            print(f"gateway listening on {url}/mcp", flush=True)
            await stop.wait()
    finally:
        await gateway.close()


def _stub_module(settings: ConnectorSettings) -> ModuleType | None:
    try:
        return importlib.import_module(f"connectors.{settings.kind}.stub")
    except ModuleNotFoundError:
        return None


async def run_demo(config: GatewayConfig, config_path: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        for settings in config.connectors:
            stub = _stub_module(settings)
            # Each stub starts where its stanza points, if that is this machine.
            if stub is not None and (where := await stack.enter_async_context(stub.serve_for(settings))):
                print(f"stub backend for {settings.name!r} ({settings.kind}) on {where}", flush=True)
        gateway = await Gateway.open(config)
        stack.push_async_callback(gateway.close)
        app = build_app(gateway)
        stop = _handle_signals(gateway)
        settle_heap()
        url = await stack.enter_async_context(running(app, config.server.host, config.server.port, config.guards))
        verifier = TokenVerifier(config.identity, config.base_dir)
        token = verifier.mint("demo-agent", DEMO_ROLES, ttl_seconds=8 * 3600)
        approver = verifier.mint("demo-approver", ("finance-approver",), ttl_seconds=8 * 3600)
        print(_banner(f"{url}/mcp", token, approver, config_path), flush=True)
        await stop.wait()


def _banner(mcp_url: str, token: str, approver: str, config_path: str) -> str:
    base = mcp_url.removesuffix("/mcp")
    return f"""
Agent governance gateway is running.

  MCP endpoint:  {mcp_url}
  Demo agent token (roles {", ".join(DEMO_ROLES)}; valid 8 h):

    export GATEWAY_URL={mcp_url}
    export GATEWAY_TOKEN={token}
    export GATEWAY_CONFIG={config_path}

  Try it (in another terminal, after the three exports):

    .venv/bin/gateway tools
    .venv/bin/gateway call sap.search_purchase_orders --args '{{"vendor_id": "0000100001"}}'
    .venv/bin/gateway call sap.create_purchase_order \\
        --args '{{"vendor_id": "0000100001", "amount": 950, "currency": "EUR", "description": "Pallets"}}'
    # 25,000 EUR needs a finance approver: this call waits until someone decides.
    .venv/bin/gateway call sap.create_purchase_order \\
        --args '{{"vendor_id": "0000100001", "amount": 25000, "currency": "EUR", "description": "Forklift"}}'

  Decide it as an approver (role finance-approver) in the console, {base}/console,
  signing in with this token, or from a third terminal:

    export APPROVER_TOKEN={approver}
    .venv/bin/gateway approvals list --token $APPROVER_TOKEN
    .venv/bin/gateway approvals approve ID --comment "budgeted" --token $APPROVER_TOKEN

  Then check the audit log (GATEWAY_CONFIG names its database):
    .venv/bin/gateway audit search --connector sap --newest-first
  Any MCP client works the same way: point it at the endpoint with the header
  'Authorization: Bearer <token>'. Metrics, with the config's scrape token:
    curl -H 'Authorization: Bearer demo-scrape-token' {base}/metrics
  Stop with Ctrl-C.
"""
