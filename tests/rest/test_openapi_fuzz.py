"""Property-based tests generated from the live OpenAPI document (schemathesis): valid
and invalid requests to every operation get no 5xx and answers that match the document."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from connectors.mcp import stub as echo_stub
from gateway.app import create_app
from gateway.identity import TokenVerifier
from gateway.serving import running
from tests.support.gateway import gateway_config

#: Examples per operation and mode: enough to reach every error branch, a few seconds in all.
EXAMPLES = 25
#: Answers that reject an invalid request; 413 (body too large) joins schemathesis's list.
REJECTIONS = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CONFIG = schemathesis.Config.from_dict({"checks": {"negative_data_rejection": {"expected-statuses": REJECTIONS}}})


@contextlib.contextmanager
def gateway_in_thread(tmp_path: Path, policy_dir: Path) -> Iterator[tuple[str, str]]:
    """(base URL, token) of a gateway fronting the echo upstream, served from a thread of its
    own because schemathesis sends its requests synchronously."""
    ready: list[tuple[str, str]] = []
    started = threading.Event()
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def serve() -> None:
        async with running(echo_stub.create_app()) as upstream:
            # The sleep tool is bounded by a short timeout: its 504 is documented, but slow.
            connectors = {"echo": {"kind": "mcp", "url": f"{upstream}/mcp", "timeout_seconds": 0.3}}
            # Big enough for every schema-valid body (100,000 escaped characters of text).
            # The fuzzer presents many bad tokens from one address: it checks each is a 401,
            # not the per-source throttle (tests/guards/test_auth_failures.py does).
            lenient = {"auth_failures": {"per_source_burst": 100_000}}
            config = gateway_config(
                tmp_path, policy_dir, connectors, server={"max_body_bytes": 2 * 1024 * 1024}, guards=lenient
            )
            async with running(create_app(config)) as url:
                ready.append((url, TokenVerifier(config.identity, config.base_dir).mint("fuzzer", ("tester",))))
                started.set()
                await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        assert started.wait(20), "gateway did not start"
        yield ready[0]
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(20)
        loop.close()


def fuzz(operation: schemathesis.APIOperation, mode: GenerationMode, url: str, auth: dict[str, str]) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=list(HealthCheck))
    def holds(case: schemathesis.Case) -> None:
        if mode is GenerationMode.POSITIVE and case.headers and "Idempotency-Key" in case.headers:
            # A generated key repeats across examples with other bodies, which is a 422 by
            # design (tested in test_frontdoor_rest.py): keep keys unique here.
            case.headers["Idempotency-Key"] = uuid.uuid4().hex
        case.call_and_validate(base_url=url, headers=auth)

    holds()


def test_openapi_operations_hold_their_contract(tmp_path: Path, policy_dir: Path) -> None:
    with gateway_in_thread(tmp_path, policy_dir) as (url, token):
        auth = {"Authorization": f"Bearer {token}"}
        document = httpx.get(f"{url}/openapi.json", headers=auth).json()
        schema = schemathesis.openapi.from_dict(document, config=CONFIG).exclude(path_regex="sleep")
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {"/v1/tools", "/v1/calls/{approval_id}", "/v1/tools/echo.echo:call", "/v1/tools/echo.add:call"}
        assert {op.path for op in operations} == paths
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzz(operation, mode, url, auth)
                except Exception as exc:
                    pytest.fail(f"{operation.label} ({mode.value}): {exc}")
