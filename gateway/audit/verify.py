"""Offline verification: recompute every hash, link, Merkle root and signature.

The input is the log in order, records and checkpoints interleaved (a checkpoint right
after the record that ends it), from the database or from an exported file; nothing is
trusted but the public key. The report names the first bad record: for a broken link
that is the earlier of the two records, since the later one's stored `prev_hash` is the
witness of what its predecessor was when it was written.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gateway.audit.chain import GENESIS_HASH, Sealed, links_to
from gateway.audit.checkpoint import Checkpoint, key_id, signature_valid
from gateway.audit.merkle import Frontier


@dataclass(frozen=True, slots=True)
class VerifyReport:
    records: int
    checkpoints: int
    #: Size of the largest checkpoint that verified (records 1..signed_size are proven).
    signed_size: int
    #: The first record that is missing, altered, inserted or out of place.
    first_bad: int | None
    problems: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass
class _State:
    public_key: Ed25519PublicKey | None
    frontier: Frontier = field(default_factory=Frontier)
    prev: str = GENESIS_HASH
    checkpoints: int = 0
    signed_size: int = 0
    first_bad: int | None = None
    broken: bool = False
    waiting: list[Checkpoint] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def bad(self, seq: int, problem: str) -> None:
        if self.first_bad is None or seq < self.first_bad:
            self.first_bad = seq
        self.problems.append(problem)


def verify(
    items: Iterable[Sealed | Checkpoint],
    public_key: Ed25519PublicKey | None,
    anchors: Iterable[Checkpoint] = (),
) -> VerifyReport:
    verifier = Verifier(public_key, anchors)
    for item in items:
        verifier.feed(item)
    return verifier.report()


class Verifier:
    """Verification fed one item at a time, for sources read page by page.

    `anchors`: checkpoints kept outside the log (the latest one, published or copied off
    the host); the only way to notice records cut from after the log's own last one.
    """

    def __init__(self, public_key: Ed25519PublicKey | None, anchors: Iterable[Checkpoint] = ()) -> None:
        self._state = _State(public_key)
        for anchor in anchors:
            _checkpoint_seen(self._state, anchor)

    def feed(self, item: Sealed | Checkpoint) -> None:
        state = self._state
        if isinstance(item, Checkpoint):
            _checkpoint_seen(state, item)
        elif not state.broken:
            _record(state, item)
            while state.waiting and state.waiting[0].size == state.frontier.size:
                _check_checkpoint(state, state.waiting.pop(0))

    def report(self) -> VerifyReport:
        state = self._state
        size = state.frontier.size
        problems = list(state.problems)
        first_bad = state.first_bad
        if not state.broken:
            for cp in state.waiting:
                problems.append(f"log cut short: checkpoint {cp.size} is signed but the log ends at record {size}")
                first_bad = size + 1 if first_bad is None else min(first_bad, size + 1)
        if size == 0 and not problems:
            # The gateway's first act on a log is its gateway.started record: no records is
            # a lost log (a SQLite copy taken without its -wal file), never a clean one.
            problems.append("the log is empty: a gateway records gateway.started first, so its records are missing")
            first_bad = 1
        if state.public_key is None and state.checkpoints:
            problems.append("checkpoint signatures not checked: no public key given")
        warnings = []
        if not problems and state.signed_size < size:
            warnings.append(
                f"records {state.signed_size + 1}..{size} are not yet covered by a signed checkpoint"
                if state.checkpoints
                else "no signed checkpoints: the chain proves order, not that the whole log was not rewritten"
            )
        return VerifyReport(
            records=size,
            checkpoints=state.checkpoints,
            signed_size=state.signed_size,
            first_bad=first_bad,
            problems=tuple(problems),
            warnings=tuple(warnings),
        )


def _record(state: _State, row: Sealed) -> None:
    expected = state.frontier.size + 1
    if row.seq != expected:
        state.broken = True
        if row.seq > expected:
            state.bad(expected, f"record {expected} is missing or out of place (record {row.seq} is where it belongs)")
        else:
            state.bad(row.seq, f"record {row.seq} appears again after record {expected - 1}")
        return
    if hashlib.sha256(row.body).hexdigest() != row.hash:
        state.broken = True
        state.bad(row.seq, f"record {row.seq} was altered: its content does not match its hash")
        return
    if not links_to(row.body, row.seq, state.prev):
        state.broken = True
        _explain_broken_link(state, row)
        return
    state.frontier.append(bytes.fromhex(row.hash))
    state.prev = row.hash


def _explain_broken_link(state: _State, row: Sealed) -> None:
    try:
        written = json.loads(row.body)
        written_seq, written_prev = int(written["seq"]), str(written["prev_hash"])
    except (ValueError, KeyError, TypeError):
        state.bad(row.seq, f"record {row.seq} is not an audit record")
        return
    if written_seq != row.seq:
        state.bad(
            min(row.seq, written_seq),
            f"record {row.seq} holds the record written as number {written_seq} (records deleted, inserted or moved)",
        )
    elif row.seq == 1 or written_prev == GENESIS_HASH:
        state.bad(row.seq, f"record {row.seq} does not continue the chain (it claims prev_hash {written_prev[:16]}…)")
    else:
        state.bad(
            row.seq - 1,
            f"record {row.seq - 1} is not the record that record {row.seq} was chained to "
            "(altered, replaced or inserted)",
        )


def _checkpoint_seen(state: _State, cp: Checkpoint) -> None:
    state.checkpoints += 1
    if state.broken or cp.size > state.frontier.size:
        state.waiting.append(cp)
        state.waiting.sort(key=lambda c: c.size)
    elif cp.size == state.frontier.size:
        _check_checkpoint(state, cp)
    else:
        state.problems.append(f"checkpoint {cp.size} appears out of place, after record {state.frontier.size}")


def _check_checkpoint(state: _State, cp: Checkpoint) -> None:
    if state.public_key is not None:
        trusted = key_id(state.public_key)
        # A forged checkpoint vouches for nothing: every record after the last genuine
        # one is suspect, so that is the first bad record.
        if cp.key_id != trusted:
            state.bad(
                state.signed_size + 1,
                f"checkpoint {cp.size} was signed by key {cp.key_id}, not the trusted key {trusted}",
            )
            return
        if not signature_valid(cp, state.public_key):
            state.bad(state.signed_size + 1, f"checkpoint {cp.size} has an invalid signature (forged or altered)")
            return
    if cp.head_hash != state.prev or cp.root != state.frontier.root().hex():
        state.bad(
            state.signed_size + 1,
            f"records {state.signed_size + 1}..{cp.size} were rewritten: checkpoint {cp.size} does not match them",
        )
        return
    if state.public_key is not None:
        state.signed_size = cp.size
