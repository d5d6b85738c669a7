from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from connectors.base import BackendError, BackendUnavailable, CallContext, Connector, create_connector
from connectors.mainframe import wire
from connectors.mainframe.codec import RecordError, decode, encode
from connectors.mainframe.copybook import CopybookError, Encoding, parse_copybook
from connectors.mainframe.stub import MainframeStub, serve_mainframe
from connectors.mainframe.transactions import COPYBOOKS
from gateway.config import ConfigError, ConnectorSettings
from gateway.models import Principal

SAMPLE = """\
      * A comment line, ignored.
       01  SAMPLE-REC.
           05  S-PACKED        PIC S9(7)V99 COMP-3.
           05  S-ZONED         PIC S9(3).
           05  S-TEXT          PIC X(4).
           05  S-GROUP.
               10  S-UNSIGNED  PIC 9(3)V9 COMP-3.
                   88  S-ZERO  VALUE 0.
               10  S-BINARY    PIC S9(4) COMP.
"""


def context() -> CallContext:
    return CallContext(call_id="c", principal=Principal("alice"), traceparent="", timeout=5.0)


def settings(port: int, **options: Any) -> ConnectorSettings:
    return ConnectorSettings(
        "mainframe",
        "mainframe",
        options.pop("timeout_seconds", 5.0),
        {
            "host": "127.0.0.1",
            "port": port,
            "auth": {"kind": "basic", "username": "GATEWAY", "password": "pw"},
            **options,
        },
    )


@pytest.fixture
async def mainframe() -> AsyncIterator[tuple[MainframeStub, Connector]]:
    async with serve_mainframe(password="pw") as stub:
        connector = create_connector(settings(stub.port))
        await connector.start()
        try:
            yield stub, connector
        finally:
            await connector.close()


def test_copybook_layout() -> None:
    layout = parse_copybook(SAMPLE)
    assert layout.name == "SAMPLE-REC"
    assert [(f.name, f.offset, f.length, f.encoding) for f in layout.fields] == [
        ("S-PACKED", 0, 5, Encoding.PACKED),
        ("S-ZONED", 5, 3, Encoding.ZONED),
        ("S-TEXT", 8, 4, Encoding.TEXT),
        ("S-UNSIGNED", 12, 3, Encoding.PACKED),
        ("S-BINARY", 15, 2, Encoding.BINARY),
    ]
    assert (layout.field("S-PACKED").digits, layout.field("S-PACKED").scale, layout.field("S-PACKED").signed) == (
        9,
        2,
        True,
    )
    assert layout.length == 17
    shipped = parse_copybook((COPYBOOKS / "ACCTINQ.cpy").read_text())
    assert shipped.length == 91 and shipped.field("AI-INTEREST-RATE").scale == 4


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("       01 R.\n           05 A PIC X(3) OCCURS 2.", "line 2: A: OCCURS is not supported"),
        ("       01 R.\n           05 A PIC 9(3)X.", "line 2: A: PIC 9(3)X mixes text and numeric"),
        ("       01 R.\n           05 A PIC Z(3).", "line 2: A: unsupported PIC 'Z(3)'"),
        ("       01 R.\n           05 A PIC 9(3)", "line 2: entry 05 A does not end with a period"),
        ("       01 R.\n           05 A PIC 9(3) COMP-5.", "line 2: A: unsupported clause 'COMP-5'"),
        ("       05 A PIC 9(3).", "line 1: A comes before the 01 record"),
    ],
)
def test_copybook_errors_name_the_line(text: str, message: str) -> None:
    with pytest.raises(CopybookError, match=re.escape(message)):
        parse_copybook(text)


def test_encoding_matches_the_host_byte_for_byte() -> None:
    layout = parse_copybook(SAMPLE)
    record = encode(
        layout, {"S-PACKED": Decimal("-12345.67"), "S-ZONED": -123, "S-TEXT": "Ab", "S-UNSIGNED": 1.5, "S-BINARY": -2}
    )
    assert record.hex() == "001234567d" + "f1f2d3" + "c1824040" + "00015f" + "fffe"
    assert encode(layout, {"S-PACKED": 42, "S-ZONED": 7})[:8].hex() == "000004200c" + "f0f0c7"


@pytest.mark.parametrize("value", ["-9999999.99", "-0.01", "0", "0.01", "-1", "1234567.8", "9999999.99"])
def test_packed_and_zoned_round_trip_including_negatives(value: str) -> None:
    layout = parse_copybook(SAMPLE)
    number = Decimal(value)
    zoned = int(number) if abs(number) < 1000 and number == int(number) else -999
    decoded = decode(layout, encode(layout, {"S-PACKED": number, "S-ZONED": zoned, "S-TEXT": "ÄÖü"}))
    assert decoded["S-PACKED"] == number
    assert decoded["S-ZONED"] == zoned
    assert decoded["S-TEXT"] == "ÄÖü"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"S-TEXT": "ABCDE"}, "S-TEXT: too long: 5 characters, PIC X(4) holds 4"),
        ({"S-TEXT": "€"}, "S-TEXT: character '€' has no EBCDIC (code page 037) form"),
        ({"S-PACKED": "12a"}, "S-PACKED: not numeric: '12a', PIC S9(7)V99"),
        ({"S-PACKED": True}, "S-PACKED: not numeric (bool), PIC S9(7)V99"),
        ({"S-PACKED": 10_000_000}, "S-PACKED: 10000000 is out of range for PIC S9(7)V99 (-9999999.99 .. 9999999.99)"),
        ({"S-PACKED": 0.125}, "S-PACKED: 0.125 has 3 decimal places, PIC S9(7)V99 allows 2"),
        ({"S-UNSIGNED": -1}, "S-UNSIGNED: -1 is negative, PIC 9(3)V9 is unsigned"),
        ({"S-ZONED": 1000}, "S-ZONED: 1000 is out of range for PIC S9(3) (-999 .. 999)"),
        ({"S-NOPE": 1}, "S-NOPE: no such field in SAMPLE-REC"),
    ],
)
def test_bad_values_are_refused_precisely(values: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=re.escape(message)):
        encode(parse_copybook(SAMPLE), values)


def test_invalid_host_data_is_detected() -> None:
    layout = parse_copybook(SAMPLE)
    record = bytearray(encode(layout, {}))
    record[0] = 0xAB  # a nibble above 9: a data exception on the host
    with pytest.raises(RecordError, match="S-PACKED: invalid packed decimal data ab0000000c"):
        decode(layout, bytes(record))


async def test_account_inquiry_decodes_negative_packed_and_zoned(mainframe: tuple[MainframeStub, Connector]) -> None:
    stub, connector = mainframe
    result = await connector.call("account_inquiry", {"account_number": 1000000002}, context())
    assert result.structured == {
        "account_number": 1000000002,
        "customer_name": "GRACE HOPPER",
        "status": "A",
        "balance": "-420.10",
        "credit_limit": "1000.00",
        "available": "579.90",
        "interest_rate": "-0.7500",
        "last_transaction_date": 20261101,
    }
    (request,) = stub.requests
    assert (request.tran_id, request.user, request.password) == ("AINQ", "GATEWAY", "pw")
    assert request.commarea[:10] == "1000000002".encode("cp037")

    with pytest.raises(BackendError, match=r"^account_inquiry failed with return code 10: account not"):
        await connector.call("account_inquiry", {"account_number": 42}, context())


async def test_funds_transfer_and_its_business_errors(mainframe: tuple[MainframeStub, Connector]) -> None:
    stub, connector = mainframe
    result = await connector.call(
        "funds_transfer",
        {"from_account": 1000000002, "to_account": 1000000004, "amount": 500.25, "reference": "Rent November"},
        context(),
    )
    assert result.structured is not None
    assert (result.structured["from_balance"], result.structured["to_balance"]) == ("-920.35", "500.25")
    assert result.structured["confirmation"].startswith("XF")
    assert stub.requests[-1].commarea[20:26].hex() == "00000050025c"
    assert stub.accounts[1000000002]["balance"] == Decimal("-920.35")

    for arguments, message in [
        ({"from_account": 1000000002, "to_account": 1000000004, "amount": 100}, "return code 20: INSUFFICIENT FUNDS"),
        ({"from_account": 1000000003, "to_account": 1000000001, "amount": 1}, "return code 40: ACCOUNT IS FROZEN"),
        ({"from_account": 1000000001, "to_account": 1000000009, "amount": 1}, "return code 11: TO ACCOUNT NOT"),
    ]:
        with pytest.raises(BackendError, match=message):
            await connector.call("funds_transfer", {**arguments, "reference": "x"}, context())


async def test_bad_arguments_never_reach_the_host(mainframe: tuple[MainframeStub, Connector]) -> None:
    stub, connector = mainframe
    base = {"from_account": 1000000001, "to_account": 1000000004, "amount": 1, "reference": "ok"}
    for change, message in [
        ({"amount": 1.234}, "argument amount: XF-AMOUNT: 1.234 has 3 decimal places, PIC S9(9)V99 allows 2"),
        ({"amount": 1e12}, "argument amount: XF-AMOUNT: 1000000000000.0 is out of range for PIC S9(9)V99"),
        ({"reference": "x" * 17}, "argument reference: XF-REFERENCE: too long: 17 characters, PIC X(16) holds 16"),
        ({"reference": "emoji 🙂"}, "argument reference: XF-REFERENCE: character '🙂' has no EBCDIC"),
        ({"to_account": "12a"}, "argument to_account: XF-TO-ACCOUNT: not numeric: '12a', PIC 9(10)"),
        ({"from_account": 10**10}, "argument from_account: XF-FROM-ACCOUNT: 10000000000 is out of range"),
    ]:
        with pytest.raises(BackendError, match=re.escape(message)):
            await connector.call("funds_transfer", {**base, **change}, context())
    assert stub.requests == []


async def test_tool_schemas_come_from_the_pic_clauses(mainframe: tuple[MainframeStub, Connector]) -> None:
    _, connector = mainframe
    specs = {s.name: s for s in await connector.tools()}
    assert specs["account_inquiry"].read_only and not specs["funds_transfer"].read_only
    schema = specs["funds_transfer"].input_schema
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["properties"]["amount"]["maximum"] == 999999999.99
    assert schema["properties"]["reference"]["maxLength"] == 16
    assert schema["properties"]["from_account"] == {
        "type": "integer",
        "minimum": 0,
        "maximum": 9999999999,
        "description": "account debited (PIC 9(10))",
    }


async def test_host_abends_are_reported() -> None:
    async with serve_mainframe(password="right") as stub:
        connector = create_connector(settings(stub.port))
        with pytest.raises(BackendError, match=r"transaction AINQ abended AEY7: not authorized"):
            await connector.call("account_inquiry", {"account_number": 1}, context())
        await connector.close()
        # A COMMAREA with bad packed data makes the program check (ASRA), as on a real region.
        reader, writer = await asyncio.open_connection("127.0.0.1", stub.port)
        commarea = bytearray(110)
        writer.write(wire.encode_request(wire.Request("XFER", "GATEWAY", "right", bytes(commarea))))
        body = await wire.read_frame(reader)
        assert body is not None and wire.decode_response(body).abend == "ASRA"
        writer.write(wire.encode_request(wire.Request("NOPE", "GATEWAY", "right", b"")))
        body = await wire.read_frame(reader)
        assert body is not None and wire.decode_response(body).abend == "AEI0"
        writer.close()


async def test_hung_host_times_out_and_the_next_call_works() -> None:
    async with serve_mainframe(password="pw") as stub:
        connector = create_connector(settings(stub.port, timeout_seconds=0.2, retries=0))
        stub.hang = True
        async with asyncio.timeout(3):
            with pytest.raises(BackendUnavailable, match=r"did not answer within 0\.2 s"):
                await connector.call("account_inquiry", {"account_number": 1000000001}, context())
        stub.hang = False
        # The timed-out connection was dropped, so the late reply cannot be mistaken for this one.
        result = await connector.call("account_inquiry", {"account_number": 1000000004}, context())
        assert result.structured is not None and result.structured["customer_name"] == "KATHERINE JOHNSON"
        assert (await connector.health()).healthy
        await connector.close()
    assert not (await connector.health()).healthy


def test_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^connectors\.mainframe\.auth\.username: invalid value 'gateway'"):
        create_connector(settings(1, auth={"kind": "basic", "username": "gateway", "password": "pw"}))
    with pytest.raises(ConfigError, match=r"^connectors\.mainframe\.auth\.password: invalid value \(not shown"):
        create_connector(settings(1, auth={"kind": "basic", "username": "GATEWAY", "password": "nine-char"}))
    with pytest.raises(ConfigError, match=r"^connectors\.mainframe\.auth\.kind: 'bearer' cannot sign on to CICS"):
        create_connector(settings(1, auth={"kind": "bearer", "token": "t"}))
    with pytest.raises(ConfigError, match=r"^connectors\.mainframe\.user: moved to connectors\.mainframe\.auth"):
        create_connector(settings(1, user="GATEWAY", password="pw"))
    (tmp_path / "ACCTINQ.cpy").write_text("       01 R.\n           05 A PIC X(3) OCCURS 2.\n")
    with pytest.raises(ConfigError, match=r"copybook_dir: ACCTINQ.cpy: line 2: A: OCCURS is not supported"):
        create_connector(settings(1, copybook_dir=str(tmp_path)))
