"""Inclusion proofs: one record, its Merkle audit path and a signed checkpoint.

A proof is self-contained JSON; checking it needs the public key and nothing of the log.
"""

from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.chain import body_of
from gateway.audit.checkpoint import Checkpoint, key_id, signature_valid
from gateway.audit.merkle import inclusion_path, root_from_inclusion
from gateway.audit.query import record_json
from gateway.audit.store import AuditStore
from gateway.errors import InvalidInput
from gateway.models import AuditRecord


class ProofError(InvalidInput):
    """No proof can be made, or a proof does not hold; the message says why."""


async def prove(store: AuditStore, seq: int) -> dict[str, Any]:
    """A proof that record `seq` is in the log, against the newest checkpoint that covers it."""
    record = await store.record(seq)
    if record is None:
        raise ProofError(f"there is no record {seq}")
    checkpoints = [cp for cp in await store.checkpoints() if cp.size >= seq]
    if not checkpoints:
        raise ProofError(f"record {seq} is not yet covered by a signed checkpoint; try again after the next one")
    checkpoint = checkpoints[-1]
    hashes = await store.record_hashes(0, checkpoint.size)
    return {
        "record": record_json(record),
        "leaf_index": seq - 1,
        "tree_size": checkpoint.size,
        "path": [h.hex() for h in inclusion_path(hashes, seq - 1)],
        "checkpoint": checkpoint.to_json(),
    }


def check_proof(proof: Any, public_key: Ed25519PublicKey) -> AuditRecord:
    """The proven record; raises ProofError naming what does not hold."""
    try:
        raw = proof["record"]
        record = AuditRecord(
            seq=int(raw["seq"]),
            ts=raw["ts"],
            kind=raw["kind"],
            call_id=raw["call_id"],
            data=raw["data"],
            prev_hash=raw["prev_hash"],
            hash=str(raw["hash"]),
        )
        checkpoint = Checkpoint.from_json(proof["checkpoint"])
        index, size = int(proof["leaf_index"]), int(proof["tree_size"])
        path = [bytes.fromhex(h) for h in proof["path"]]
        body = body_of(record)
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"not an inclusion proof: {exc}") from None
    if hashlib.sha256(body).hexdigest() != record.hash:
        raise ProofError(f"record {record.seq} does not match its hash: it was altered")
    if index != record.seq - 1 or size != checkpoint.size:
        raise ProofError("the proof's position or tree size disagrees with its record or checkpoint")
    if checkpoint.key_id != key_id(public_key) or not signature_valid(checkpoint, public_key):
        raise ProofError(f"checkpoint {checkpoint.size} is not signed by the trusted key")
    try:
        root = root_from_inclusion(bytes.fromhex(record.hash), index, size, path)
    except ValueError as exc:
        raise ProofError(f"the audit path is malformed: {exc}") from None
    if root.hex() != checkpoint.root:
        raise ProofError(f"record {record.seq} is not in the log signed by checkpoint {checkpoint.size}")
    return record
