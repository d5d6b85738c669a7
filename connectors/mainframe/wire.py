"""The framing between the gateway and the CICS-style transaction server.

Request:  LL (4 bytes, big-endian length of what follows) | TRANID (4) | USERID (8) |
          PASSWORD (8) | TL (2, big-endian) | TOKEN (TL bytes, ASCII) | COMMAREA
          Sign-on is either USERID and PASSWORD (TL 0), or a token the region verifies
          (a JWT the gateway obtained by token exchange; USERID and PASSWORD blank): the
          region maps its subject to a RACF user, as CICS identity propagation does.
Response: LL | ABEND (4; blanks when the program ended normally) | COMMAREA, or the
          abend's message text in place of the COMMAREA.
Identifiers and texts are EBCDIC (code page 037), blank-padded.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from gateway.errors import InvalidInput

CODEPAGE = "cp037"
#: Longest sign-on token a frame carries.
MAX_TOKEN = 8192
#: CICS caps a COMMAREA at 32,763 bytes; anything longer is not a frame of ours.
MAX_FRAME = 32_763 + 26 + MAX_TOKEN
_HEADER = 22
NORMAL = "    "
ABEND_MESSAGES = {
    "AEY7": "not authorized: user or password rejected",
    "AEI0": "transaction not defined (PGMIDERR)",
    "AEIV": "COMMAREA length does not match the program (LENGERR)",
    "ASRA": "program check: invalid data in the COMMAREA (data exception)",
}


class FrameError(InvalidInput):
    pass


@dataclass(frozen=True, slots=True)
class Request:
    tran_id: str
    user: str
    password: str
    commarea: bytes
    #: A sign-on token in place of user and password ("" when signing on with a password).
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class Response:
    abend: str
    payload: bytes

    @property
    def normal(self) -> bool:
        return self.abend == NORMAL


def _text(value: str, width: int) -> bytes:
    return value.ljust(width)[:width].encode(CODEPAGE)


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """The next frame's body, or None when the peer closed the connection between frames."""
    try:
        header = await reader.readexactly(4)
    except asyncio.IncompleteReadError as exc:
        if exc.partial:
            raise FrameError("connection closed inside a frame header") from None
        return None
    length = int.from_bytes(header, "big")
    if length > MAX_FRAME:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {MAX_FRAME}")
    try:
        return await reader.readexactly(length)
    except asyncio.IncompleteReadError:
        raise FrameError("connection closed inside a frame") from None


def frame(body: bytes) -> bytes:
    return len(body).to_bytes(4, "big") + body


def encode_request(request: Request) -> bytes:
    token = request.token.encode("ascii")
    if len(token) > MAX_TOKEN:
        raise FrameError(f"sign-on token of {len(token)} bytes exceeds the limit of {MAX_TOKEN}")
    header = _text(request.tran_id, 4) + _text(request.user, 8) + _text(request.password, 8)
    return frame(header + len(token).to_bytes(2, "big") + token + request.commarea)


def decode_request(body: bytes) -> Request:
    if len(body) < _HEADER:
        raise FrameError(f"request shorter than its {_HEADER}-byte header")
    text = body[:20].decode(CODEPAGE)
    length = int.from_bytes(body[20:22], "big")
    if length > MAX_TOKEN or len(body) < _HEADER + length:
        raise FrameError(f"sign-on token length {length} does not fit the frame")
    try:
        token = body[_HEADER : _HEADER + length].decode("ascii")
    except UnicodeDecodeError:
        raise FrameError("sign-on token is not ASCII") from None
    return Request(text[:4], text[4:12].rstrip(), text[12:20].rstrip(), body[_HEADER + length :], token)


def encode_response(response: Response) -> bytes:
    return frame(_text(response.abend, 4) + response.payload)


def decode_response(body: bytes) -> Response:
    if len(body) < 4:
        raise FrameError("response shorter than its 4-byte header")
    return Response(body[:4].decode(CODEPAGE), body[4:])
