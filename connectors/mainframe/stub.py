"""A stub of a CICS-style transaction server: one asyncio TCP server, frames as in
`connectors.mainframe.wire`, COMMAREAs in EBCDIC laid out by the copybooks in `copybooks/`.
Programs: AINQ (account inquiry), XFER (funds transfer), XREV (reversal of a transfer by
its confirmation), and the validate-only twins XFEV and XRVV, which check exactly what
XFER and XREV check and post nothing. Bad packed-decimal data abends
ASRA, a wrong COMMAREA length AEIV, an unknown transaction AEI0, a bad sign-on AEY7, as a
real region would.

Sign-on is the RACF user and password, or, when the stub is given an identity provider
(`tokens`), a token the gateway obtained by exchange: verified through the provider's keys
(audience this region), its subject mapped to a RACF user (`users`), who may run only the
transactions listed for it (RACF class TCICSTRN); anything else abends AEY7 with the reason.

Run alone: `python -m connectors.mainframe.stub --port 8103` (user `--user`, default `GATEWAY`,
password from MAINFRAME_PASSWORD, default `demo`; TLS with `--tls-cert` and `--tls-key`,
client certificates required with `--tls-client-ca`). In tests:
`async with serve_mainframe(password="pw") as stub:` then connect to `stub.port`;
`stub.requests` lists every request received, `stub.hang = True` makes it stop answering;
`serve_mainframe(tls=ServerTls(...))` serves TLS (gateway.serving.ServerTls).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import functools
import os
import secrets
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from connectors.auth import BasicAuth
from connectors.mainframe import wire
from connectors.mainframe.codec import RecordError, decode, encode
from connectors.mainframe.options import MainframeOptions
from connectors.mainframe.transactions import TRANSACTIONS, load_layouts
from connectors.stub_tokens import StubTokens, TokenRejected
from connectors.stubkit import loopback_address, server_tls, stub_arguments
from gateway.config import ConnectorSettings
from gateway.serving import ServerTls


def _seed() -> dict[int, dict[str, Any]]:
    rows = [
        (1000000001, "ADA LOVELACE", "A", "15230.75", "5000.00", "1.2500"),
        (1000000002, "GRACE HOPPER", "A", "-420.10", "1000.00", "-0.7500"),
        (1000000003, "ALAN TURING", "F", "88000.00", "0.00", "0.5000"),
        (1000000004, "KATHERINE JOHNSON", "A", "0.00", "250.00", "0.0000"),
    ]
    return {
        number: {
            "name": name,
            "status": status,
            "balance": Decimal(balance),
            "credit_limit": Decimal(limit),
            "rate": Decimal(rate),
            "last_txn": 20261101,
        }
        for number, name, status, balance, limit, rate in rows
    }


@dataclass(frozen=True, slots=True)
class RacfUser:
    """A RACF user a token's subject maps to, and the transactions it may run."""

    user_id: str
    transactions: frozenset[str] = frozenset()


class MainframeStub:
    def __init__(
        self,
        user: str = "GATEWAY",
        password: str = "demo",
        tokens: StubTokens | None = None,
        users: Mapping[str, RacfUser] | None = None,
    ) -> None:
        self.user = user
        self.password = password
        self.tokens = tokens
        #: token subject -> RACF user.
        self.users = dict(users or {})
        self.accounts = _seed()
        self.requests: list[wire.Request] = []
        #: Posted transfers by confirmation: from, to, amount, and the reversal once reversed.
        self.transfers: dict[str, dict[str, Any]] = {}
        self.hang = False
        self.port = 0
        layouts = load_layouts()
        self._layouts = {t.tran_id: layouts[t.tool] for t in TRANSACTIONS}
        self._layouts.update({t.validate_tran_id: layouts[t.tool] for t in TRANSACTIONS if t.validate_tran_id})
        self._programs: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "AINQ": self._inquiry,
            "XFER": functools.partial(self._transfer, post=True),
            "XFEV": functools.partial(self._transfer, post=False),
            "XREV": functools.partial(self._reverse, post=True),
            "XRVV": functools.partial(self._reverse, post=False),
        }
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.StreamWriter] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0, tls: ServerTls | None = None) -> None:
        context = tls.context() if tls is not None else None
        self._server = await asyncio.start_server(self._serve, host, port, reuse_address=True, ssl=context)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self.hang = False
            self._server.close()
            # Closing the sockets ends each handler at its next read, as a region shutting down.
            for writer in self._connections:
                writer.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._connections.add(writer)
        try:
            while (body := await wire.read_frame(reader)) is not None:
                request = wire.decode_request(body)
                self.requests.append(request)
                while self.hang and self._server is not None:
                    await asyncio.sleep(0.05)
                writer.write(wire.encode_response(await self.answer(request)))
                await writer.drain()
        except (wire.FrameError, ConnectionError):
            pass  # a broken peer: drop the connection, as a listener would
        finally:
            self._connections.discard(writer)
            writer.close()

    async def answer(self, request: wire.Request) -> wire.Response:
        """Sign on (password or token), then run the transaction."""
        if request.token:
            refusal = await self._token_refusal(request)
            if refusal is not None:
                return wire.Response("AEY7", f"not authorized: {refusal}".encode(wire.CODEPAGE))
        elif not (
            secrets.compare_digest(request.user, self.user) and secrets.compare_digest(request.password, self.password)
        ):
            return _abend("AEY7")
        return self.run(request)

    async def _token_refusal(self, request: wire.Request) -> str | None:
        """Why the token may not run this transaction; None when it may."""
        if self.tokens is None:
            return "this region accepts no sign-on tokens"
        try:
            claims = await self.tokens.verify(request.token)
        except TokenRejected as exc:
            return f"sign-on token rejected ({exc})"
        user = self.users.get(str(claims["sub"]))
        if user is None:
            return f"no RACF user is mapped to {claims['sub']}"
        if request.tran_id not in user.transactions:
            return f"user {user.user_id} may not run transaction {request.tran_id} (RACF class TCICSTRN)"
        return None

    def run(self, request: wire.Request) -> wire.Response:
        """The transaction of a request that has signed on."""
        layout = self._layouts.get(request.tran_id)
        if layout is None:
            return _abend("AEI0")
        if len(request.commarea) != layout.length:
            return _abend("AEIV")
        try:
            values = decode(layout, request.commarea)
        except RecordError:
            return _abend("ASRA")
        return wire.Response(wire.NORMAL, encode(layout, self._programs[request.tran_id](values)))

    def _inquiry(self, v: dict[str, Any]) -> dict[str, Any]:
        account = self.accounts.get(v["AI-ACCOUNT-NUMBER"])
        if account is None:
            return {**v, "AI-RETURN-CODE": 10}
        return {
            **v,
            "AI-RETURN-CODE": 0,
            "AI-CUSTOMER-NAME": account["name"],
            "AI-ACCOUNT-STATUS": account["status"],
            "AI-BALANCE": account["balance"],
            "AI-CREDIT-LIMIT": account["credit_limit"],
            "AI-AVAILABLE": account["balance"] + account["credit_limit"],
            "AI-INTEREST-RATE": account["rate"],
            "AI-LAST-TXN-DATE": account["last_txn"],
            "FILLER": "",
        }

    def _transfer(self, v: dict[str, Any], *, post: bool) -> dict[str, Any]:
        source, target = self.accounts.get(v["XF-FROM-ACCOUNT"]), self.accounts.get(v["XF-TO-ACCOUNT"])
        amount: Decimal = v["XF-AMOUNT"]
        failure = (
            (10, "FROM ACCOUNT NOT FOUND")
            if source is None
            else (11, "TO ACCOUNT NOT FOUND")
            if target is None
            else (30, "FROM AND TO ACCOUNT ARE THE SAME")
            if source is target
            else (21, "AMOUNT MUST BE POSITIVE")
            if amount <= 0
            else (40, "ACCOUNT IS FROZEN")
            if "F" in (source["status"], target["status"])
            else (20, "INSUFFICIENT FUNDS")
            if source["balance"] - amount < -source["credit_limit"]
            else None
        )
        if failure is not None:
            return {**v, "XF-RETURN-CODE": failure[0], "XF-MESSAGE": failure[1]}
        assert source is not None and target is not None
        if not post:
            return {
                **v,
                "XF-RETURN-CODE": 0,
                "XF-MESSAGE": "TRANSFER VALID, NOT POSTED",
                "XF-FROM-BALANCE": source["balance"] - amount,
                "XF-TO-BALANCE": target["balance"] + amount,
                "XF-CONFIRMATION": "",
            }
        self._move(source, target, amount)
        confirmation = f"XF{secrets.randbelow(10**10):010d}"
        self.transfers[confirmation] = {
            "from": v["XF-FROM-ACCOUNT"],
            "to": v["XF-TO-ACCOUNT"],
            "amount": amount,
            "reversal": None,
        }
        return {
            **v,
            "XF-RETURN-CODE": 0,
            "XF-MESSAGE": "TRANSFER COMPLETED",
            "XF-FROM-BALANCE": source["balance"],
            "XF-TO-BALANCE": target["balance"],
            "XF-CONFIRMATION": confirmation,
        }

    def _reverse(self, v: dict[str, Any], *, post: bool) -> dict[str, Any]:
        """Move a posted transfer's amount back from the account it credited."""
        transfer = self.transfers.get(v["XR-CONFIRMATION"].strip())
        debit = self.accounts[transfer["to"]] if transfer else None
        credit = self.accounts[transfer["from"]] if transfer else None
        failure = (
            (50, "TRANSFER NOT FOUND")
            if transfer is None or debit is None or credit is None
            else (51, f"ALREADY REVERSED BY {transfer['reversal']}")
            if transfer["reversal"]
            else (40, "ACCOUNT IS FROZEN")
            if "F" in (debit["status"], credit["status"])
            else (20, "INSUFFICIENT FUNDS")
            if debit["balance"] - transfer["amount"] < -debit["credit_limit"]
            else None
        )
        if failure is not None:
            return {**v, "XR-RETURN-CODE": failure[0], "XR-MESSAGE": failure[1]}
        assert transfer is not None and debit is not None and credit is not None
        amount = transfer["amount"]
        if not post:
            return {
                **v,
                "XR-RETURN-CODE": 0,
                "XR-MESSAGE": "REVERSAL VALID, NOT POSTED",
                "XR-AMOUNT": amount,
                "XR-FROM-BALANCE": credit["balance"] + amount,
                "XR-TO-BALANCE": debit["balance"] - amount,
                "XR-REVERSAL": "",
            }
        self._move(debit, credit, amount)
        transfer["reversal"] = f"XR{secrets.randbelow(10**10):010d}"
        return {
            **v,
            "XR-RETURN-CODE": 0,
            "XR-MESSAGE": "TRANSFER REVERSED",
            "XR-AMOUNT": amount,
            "XR-FROM-BALANCE": credit["balance"],
            "XR-TO-BALANCE": debit["balance"],
            "XR-REVERSAL": transfer["reversal"],
        }

    @staticmethod
    def _move(source: dict[str, Any], target: dict[str, Any], amount: Decimal) -> None:
        source["balance"] -= amount
        target["balance"] += amount
        source["last_txn"] = target["last_txn"] = int(datetime.date.today().strftime("%Y%m%d"))


def _abend(code: str) -> wire.Response:
    return wire.Response(code, wire.ABEND_MESSAGES[code].encode(wire.CODEPAGE))


@contextlib.asynccontextmanager
async def serve_mainframe(
    *,
    user: str = "GATEWAY",
    password: str = "demo",
    port: int = 0,
    host: str = "127.0.0.1",
    tls: ServerTls | None = None,
    tokens: StubTokens | None = None,
    users: Mapping[str, RacfUser] | None = None,
) -> AsyncIterator[MainframeStub]:
    """Run the stub on a loopback port (ephemeral by default) for the duration of the block,
    over TLS with `tls`."""
    stub = MainframeStub(user, password, tokens, users)
    await stub.start(host, port, tls)
    try:
        yield stub
    finally:
        stub.hang = False
        await stub.close()


@contextlib.asynccontextmanager
async def serve_for(settings: ConnectorSettings) -> AsyncIterator[str | None]:
    """For `gateway demo`: this stub where the stanza points, when that is this machine,
    accepting the stanza's own credentials; yields its base URL, or None if not started."""
    options = MainframeOptions.of(settings)
    if loopback_address(f"tcp://{options.host}:{options.port}") is None:
        yield None
        return
    auth = options.auth
    serving = (
        serve_mainframe(
            user=auth.username, password=auth.password.get_secret_value(), port=options.port, host=options.host
        )
        if isinstance(auth, BasicAuth)
        else serve_mainframe(port=options.port, host=options.host)
    )
    async with serving as stub:
        yield f"tcp://{options.host}:{stub.port}"


def main() -> None:
    parser = stub_arguments("CICS-style transaction server stub (AINQ, XFER)", 8103)
    parser.add_argument("--user", default="GATEWAY")
    args = parser.parse_args()

    async def serve() -> None:
        stub = MainframeStub(args.user, os.environ.get("MAINFRAME_PASSWORD", "demo"))
        await stub.start(args.host, args.port, server_tls(args))
        print(f"mainframe stub listening on {args.host}:{stub.port}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
