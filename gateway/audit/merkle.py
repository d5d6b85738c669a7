"""A Merkle tree over the record hashes, as RFC 6962 / RFC 9162 define it.

Leaf i is the record with seq i+1; its leaf hash is SHA-256(0x00 || record hash bytes),
an inner node is SHA-256(0x01 || left || right). A checkpoint signs the root, so one
record can be shown to be in the log with a logarithmic proof and the public key alone.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

_sha256 = hashlib.sha256


def leaf_hash(record_hash: bytes) -> bytes:
    return _sha256(b"\x00" + record_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


EMPTY_ROOT = _sha256(b"").digest()


class Frontier:
    """The roots of the perfect subtrees covering the leaves so far (left to right).

    Enough to append in amortised O(1) and to compute the root in O(log n), so the
    writer never rereads the log to sign a checkpoint.
    """

    __slots__ = ("_roots", "_sizes", "size")

    def __init__(self) -> None:
        self._roots: list[bytes] = []
        self._sizes: list[int] = []
        self.size = 0

    def copy(self) -> Frontier:
        other = Frontier()
        other._roots, other._sizes, other.size = list(self._roots), list(self._sizes), self.size
        return other

    def state(self) -> bytes:
        """The subtree roots, concatenated: with the size, enough to resume appending."""
        return b"".join(self._roots)

    @classmethod
    def restore(cls, size: int, state: bytes) -> Frontier:
        """The frontier `state()` gave at `size`; ValueError if the two do not fit together."""
        sizes = [1 << bit for bit in range(size.bit_length() - 1, -1, -1) if size >> bit & 1]
        if len(state) != 32 * len(sizes):
            raise ValueError(f"a Merkle frontier of size {size} has {len(sizes)} roots, not {len(state) / 32:g}")
        frontier = cls()
        frontier._roots = [state[i : i + 32] for i in range(0, len(state), 32)]
        frontier._sizes = sizes
        frontier.size = size
        return frontier

    def append(self, record_hash: bytes) -> None:
        roots, sizes = self._roots, self._sizes
        roots.append(leaf_hash(record_hash))
        sizes.append(1)
        while len(sizes) > 1 and sizes[-1] == sizes[-2]:
            right = roots.pop()
            roots[-1] = node_hash(roots[-1], right)
            sizes[-1] += sizes.pop()
        self.size += 1

    def root(self) -> bytes:
        if not self._roots:
            return EMPTY_ROOT
        # RFC 6962 splits at the largest power of two below n, so the tree is the
        # perfect subtrees folded together from the right.
        acc = self._roots[-1]
        for left in reversed(self._roots[:-1]):
            acc = node_hash(left, acc)
        return acc


def _largest_power_of_two_below(n: int) -> int:
    return 1 << ((n - 1).bit_length() - 1)


def _subtree_root(leaves: Sequence[bytes], start: int, end: int) -> bytes:
    frontier = Frontier()
    for h in leaves[start:end]:
        frontier.append(h)
    return frontier.root()


def inclusion_path(record_hashes: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path (RFC 6962 section 2.1.1) for leaf `index` in a tree of all the hashes."""
    size = len(record_hashes)
    if not 0 <= index < size:
        raise IndexError(f"leaf {index} is outside a tree of {size}")
    path: list[bytes] = []
    start, end = 0, size
    # Walk down from the root, collecting the sibling subtree at each split.
    while end - start > 1:
        k = _largest_power_of_two_below(end - start)
        if index < start + k:
            path.append(_subtree_root(record_hashes, start + k, end))
            end = start + k
        else:
            path.append(_subtree_root(record_hashes, start, start + k))
            start = start + k
    path.reverse()
    return path


def root_from_inclusion(record_hash: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """The root a valid path leads to (RFC 9162 section 2.1.3.2); raises ValueError on a malformed path."""
    if not 0 <= index < size:
        raise ValueError(f"leaf {index} is outside a tree of {size}")
    fn, sn = index, size - 1
    acc = leaf_hash(record_hash)
    for sibling in path:
        if sn == 0:
            raise ValueError("inclusion path is longer than the tree is deep")
        if fn & 1 or fn == sn:
            acc = node_hash(sibling, acc)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            acc = node_hash(acc, sibling)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ValueError("inclusion path is shorter than the tree is deep")
    return acc
