"""The mainframe connector: each tool is a CICS transaction whose COMMAREA is laid out by a
copybook. Arguments are encoded to EBCDIC fixed-width records (values checked against
their PIC clauses before anything is sent); the reply record is decoded back to JSON.
Each request signs on as the stanza's `auth` says: the RACF user and password, or the
token exchanged for the caller (the region maps its subject to the person's RACF user).
With a `tls` section the connection is TLS (connectors.tls), as a CICS TCP/IP listener or
a TLS-terminating proxy in front of it offers; without one the sign-on travels in clear."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from connectors.auth import backend_auth
from connectors.base import BackendError, BackendUnavailable, CallContext, Health
from connectors.mainframe import wire
from connectors.mainframe.codec import RecordError, decode, encode
from connectors.mainframe.copybook import CopybookError
from connectors.mainframe.options import MainframeOptions
from connectors.mainframe.transactions import COPYBOOKS, TRANSACTIONS, Transaction, input_schema, load_layouts
from connectors.results import json_result
from connectors.tls import client_context, closed_after_handshake, tls_failure
from gateway.config import ConfigError, ConnectorSettings
from gateway.models import ToolResult, ToolSpec

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


class MainframeConnector:
    def __init__(self, settings: ConnectorSettings) -> None:
        options = MainframeOptions.of(settings)
        self.name = settings.name
        self._host = options.host
        self._port = options.port
        self._auth = backend_auth(options.auth, settings.name, settings.timeout_seconds, options.tls)
        self._timeout = settings.timeout_seconds
        self._max_idle = options.max_concurrency
        self._tls: ssl.SSLContext | None = client_context(options.tls) if options.tls is not None else None
        directory = Path(options.copybook_dir) if options.copybook_dir else COPYBOOKS
        try:
            self._layouts = load_layouts(directory)
        except (CopybookError, OSError, KeyError) as exc:
            raise ConfigError(f"connectors.{settings.name}.copybook_dir: {exc}") from None
        self._transactions = {t.tool: t for t in TRANSACTIONS}
        self._tools = [
            ToolSpec(
                self.name,
                t.tool,
                t.description,
                input_schema(t, self._layouts[t.tool]),
                read_only=t.read_only,
                title=t.tool.replace("_", " ").capitalize(),
                simulates=t.validate_tran_id is not None,
                compensation=t.compensation,
            )
            for t in TRANSACTIONS
        ]
        self._idle: list[Connection] = []

    async def start(self) -> None:
        """Connections are opened on demand, so a host that is down does not stop the gateway."""

    async def close(self) -> None:
        while self._idle:
            _, writer = self._idle.pop()
            writer.close()
        await self._auth.close()

    @property
    def acts_for_caller(self) -> bool:
        return self._auth.acts_for_caller

    async def tools(self) -> list[ToolSpec]:
        return list(self._tools)

    async def health(self) -> Health:
        try:
            _, writer = await self._connect()
        except BackendUnavailable as exc:
            return Health(False, str(exc))
        writer.close()
        over = "TLS connections" if self._tls is not None else "connections"
        return Health(True, f"listener accepts {over} on {self._host}:{self._port}")

    async def call(self, tool: str, arguments: Mapping[str, Any], context: CallContext) -> ToolResult:
        transaction = self._transactions.get(tool)
        if transaction is None:
            raise BackendError(f"unknown tool {tool!r}")
        layout = self._layouts[tool]
        try:
            commarea = encode(layout, {p.field: arguments[p.name] for p in transaction.inputs if p.name in arguments})
        except RecordError as exc:
            names = {p.field: p.name for p in transaction.inputs}
            raise BackendError(f"argument {names.get(exc.field or '', exc.field)}: {exc}") from None
        tran_id = transaction.tran_id
        if context.dry_run:
            if transaction.validate_tran_id is None:
                raise BackendError(f"{tool} has no validate-only transaction to simulate it with")
            tran_id = transaction.validate_tran_id
        response = await self._exchange(await self._request(tran_id, commarea, context))
        if not response.normal:
            detail = response.payload.decode(wire.CODEPAGE, errors="replace")
            raise BackendError(f"transaction {tran_id} abended {response.abend}: {detail}")
        try:
            record = decode(layout, response.payload)
        except RecordError as exc:
            raise BackendError(f"the host returned an invalid record ({exc})") from None
        return self._result(transaction, record)

    async def _request(self, tran_id: str, commarea: bytes, context: CallContext) -> wire.Request:
        """The frame for this call, signed on as the call's credential (noted for the audit)."""
        credential = await self._auth.credential(context)
        if credential is None:  # not reached: every call has a context
            raise BackendError("no credential to sign on with")
        context.backend.identity = credential.identity
        user, password, token = credential.username or "", credential.password or "", credential.token or ""
        return wire.Request(tran_id, user, password, commarea, token)

    def _result(self, transaction: Transaction, record: Mapping[str, Any]) -> ToolResult:
        code = record[transaction.return_code]
        if code != 0:
            reason = record[transaction.message] if transaction.message else transaction.errors.get(code, "failed")
            raise BackendError(f"{transaction.tool} failed with return code {code:02d}: {reason}")
        return json_result({p.name: record[p.field] for p in transaction.outputs})

    async def _connect(self) -> Connection:
        try:
            async with asyncio.timeout(self._timeout):
                return await asyncio.open_connection(self._host, self._port, ssl=self._tls)
        except TimeoutError:
            raise BackendUnavailable(f"host did not accept a connection within {self._timeout:g} s") from None
        except OSError as exc:  # ssl.SSLError among them
            # A reset during a TLS handshake is the host refusing it (see closed_after_handshake).
            failure = tls_failure(exc, self._tls) or f"host unreachable ({type(exc).__name__})"
            raise BackendUnavailable(failure) from None

    def _reusable(self) -> Connection | None:
        while self._idle:
            reader, writer = self._idle.pop()
            if not reader.at_eof() and not writer.is_closing():
                return reader, writer
            writer.close()
        return None

    async def _exchange(self, request: wire.Request) -> wire.Response:
        reused = self._reusable()
        reader, writer = reused or await self._connect()
        # A new TLS connection dropped without an answer: the host refused it after the handshake.
        new_tls = self._tls if reused is None else None
        try:
            writer.write(wire.encode_request(request))
            await writer.drain()
            body = await wire.read_frame(reader)
        except (OSError, wire.FrameError) as exc:
            writer.close()
            failure = tls_failure(exc, new_tls) or f"connection to the host failed ({type(exc).__name__})"
            raise BackendUnavailable(failure) from None
        except BaseException:
            # Cancelled mid-exchange (deadline): a late reply would desynchronise the stream.
            writer.close()
            raise
        if body is None:
            writer.close()
            raise BackendUnavailable(
                closed_after_handshake(new_tls) if new_tls else "the host closed the connection without answering"
            )
        if len(self._idle) < self._max_idle:
            self._idle.append((reader, writer))
        else:
            writer.close()
        try:
            return wire.decode_response(body)
        except wire.FrameError as exc:
            raise BackendError(f"the host sent an invalid response ({exc})") from None
