"""The hash chain: how one audit record becomes bytes and a hash.

A record's canonical form is the RFC 8785 encoding of
`{"call_id", "data", "kind", "prev_hash", "seq", "ts"}` and its hash is the SHA-256 of
those bytes, so each hash covers the previous record's hash. JCS sorts keys, which puts
`prev_hash`, `seq` and `ts` last: the caller's part (`call_id`, `data`, `kind`) is
encoded once, outside the writer, and the writer only splices the chain fields on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from gateway.audit.canonical import canonical_json
from gateway.errors import InvalidInput
from gateway.models import AuditRecord

#: The prev_hash of record 1.
GENESIS_HASH = "0" * 64

_PREV_MARK = b',"prev_hash":"'


@dataclass(frozen=True, slots=True)
class Draft:
    """A record before it has a place in the chain."""

    ts: float
    kind: str
    call_id: str | None
    data: Mapping[str, Any]
    #: Canonical `{"call_id":…,"data":…,"kind":…` (no closing brace).
    head: bytes
    #: Canonical encoding of ts.
    ts_json: bytes


@dataclass(frozen=True, slots=True)
class Sealed:
    """A record with its place in the chain: what the store keeps."""

    seq: int
    hash: str
    body: bytes


def draft(kind: str, data: Mapping[str, Any], call_id: str | None, ts: float) -> Draft:
    """Encode the caller's part; raises CanonicalizationError for non-JSON data."""
    head = canonical_json({"call_id": call_id, "data": data, "kind": kind})
    return Draft(ts=ts, kind=kind, call_id=call_id, data=data, head=head[:-1], ts_json=canonical_json(ts))


def seal(record: Draft, seq: int, prev_hash: str) -> Sealed:
    body = b'%s%s%s","seq":%d,"ts":%s}' % (record.head, _PREV_MARK, prev_hash.encode(), seq, record.ts_json)
    return Sealed(seq=seq, hash=hashlib.sha256(body).hexdigest(), body=body)


def links_to(body: bytes, seq: int, prev_hash: str) -> bool:
    """Does `body` claim position `seq` after a record hashed `prev_hash`?

    Checked on the bytes, without parsing: JSON strings escape every quote, so the last
    `,"prev_hash":"` in a record can only be its top-level key.
    """
    at = body.rfind(_PREV_MARK)
    return at >= 0 and body.startswith(b'%s%s","seq":%d,"ts":' % (_PREV_MARK, prev_hash.encode(), seq), at)


class MalformedRecord(InvalidInput):
    """Stored bytes that are not an audit record."""


def parse(body: bytes, record_hash: str) -> AuditRecord:
    try:
        fields = json.loads(body)
        return AuditRecord(
            seq=int(fields["seq"]),
            ts=float(fields["ts"]),
            kind=str(fields["kind"]),
            call_id=fields["call_id"],
            data=fields["data"],
            prev_hash=str(fields["prev_hash"]),
            hash=record_hash,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise MalformedRecord(f"not an audit record ({exc}): {body[:80]!r}") from None


def body_of(record: AuditRecord) -> bytes:
    """The canonical bytes of a record read back from anywhere (an export, the API)."""
    return canonical_json(
        {
            "call_id": record.call_id,
            "data": record.data,
            "kind": record.kind,
            "prev_hash": record.prev_hash,
            "seq": record.seq,
            "ts": record.ts,
        }
    )
