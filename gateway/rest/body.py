"""Reading a call's arguments from a request body, refusing anything but one bounded
JSON object with a precise 4xx."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request

from gateway.errors import Problem

_JSON_KINDS = {list: "an array", str: "a string", int: "a number", float: "a number", bool: "a boolean"}


def _is_json(content_type: str) -> bool:
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


#: I-JSON (RFC 7493): integers beyond this lose precision in most JSON parsers, and the
#: audit log's canonical form (RFC 8785) cannot hash them.
SAFE_INTEGER = 2**53 - 1


def _parse_int(text: str) -> int:
    value = int(text)
    if abs(value) > SAFE_INTEGER:
        raise ValueError(f"integer {text} is outside the interoperable range of +-(2**53 - 1)")
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON (RFC 8259) and cannot be hashed into the audit log.
    raise ValueError(f"{name} is not a JSON value")


async def _read_bounded(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Problem(413, "body_too_large", f"request body of {declared} bytes exceeds the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Problem(413, "body_too_large", f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def read_arguments(request: Request, limit: int) -> dict[str, Any]:
    """The JSON object in the body (an empty body is no arguments)."""
    raw = await _read_bounded(request, limit)
    if not raw.strip():
        return {}
    content_type = request.headers.get("content-type", "")
    if not _is_json(content_type):
        got = f"got {content_type!r}" if content_type else "no Content-Type was sent"
        raise Problem(415, "unsupported_media_type", f"the body must be application/json; {got}")
    try:
        value = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant, parse_int=_parse_int)
    except UnicodeDecodeError as exc:
        raise Problem(400, "malformed_json", f"the body is not UTF-8: invalid byte at offset {exc.start}") from None
    except json.JSONDecodeError as exc:
        raise Problem(
            400, "malformed_json", f"malformed JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    except ValueError as exc:
        raise Problem(400, "malformed_json", f"malformed JSON: {exc}") from None
    except RecursionError:
        raise Problem(400, "malformed_json", "malformed JSON: nested too deeply") from None
    if not isinstance(value, dict):
        got = _JSON_KINDS.get(type(value), "a scalar")
        raise Problem(422, "invalid_arguments", f"the body must be a JSON object of the tool's arguments, got {got}")
    return value
