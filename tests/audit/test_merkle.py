from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from gateway.audit.merkle import (
    EMPTY_ROOT,
    Frontier,
    inclusion_path,
    leaf_hash,
    node_hash,
    root_from_inclusion,
)
from tests.support.audit import build_log, cli, make_keys, root_of


def _reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the recursion it states."""
    if not leaves:
        return EMPTY_ROOT
    if len(leaves) == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return node_hash(_reference_root(leaves[:k]), _reference_root(leaves[k:]))


HASHES = [hashlib.sha256(str(i).encode()).digest() for i in range(70)]


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 5, 7, 8, 9, 31, 32, 33, 70])
def test_the_incremental_root_is_the_rfc_6962_root(size: int) -> None:
    frontier = Frontier()
    for h in HASHES[:size]:
        frontier.append(h)
    assert frontier.root() == _reference_root(HASHES[:size]) == root_of(HASHES[:size])


def test_a_saved_frontier_resumes_where_it_stopped() -> None:
    for size in (0, 1, 6, 31, 32, 33):
        saved = Frontier()
        for h in HASHES[:size]:
            saved.append(h)
        resumed = Frontier.restore(size, saved.state())
        for h in HASHES[size:70]:
            resumed.append(h)
        assert resumed.root() == root_of(HASHES[:70])
    with pytest.raises(ValueError, match="has 2 roots, not 1"):
        Frontier.restore(6, b"x" * 32)


def test_every_leaf_of_every_tree_size_has_a_proof_that_checks() -> None:
    for size in range(1, 40):
        root = root_of(HASHES[:size])
        for index in range(size):
            path = inclusion_path(HASHES[:size], index)
            assert root_from_inclusion(HASHES[index], index, size, path) == root


def test_a_proof_does_not_hold_for_another_leaf_or_position() -> None:
    root = root_of(HASHES[:13])
    path = inclusion_path(HASHES[:13], 6)
    assert root_from_inclusion(HASHES[7], 6, 13, path) != root
    assert root_from_inclusion(HASHES[6], 5, 13, path) != root
    with pytest.raises(ValueError, match="longer"):
        root_from_inclusion(HASHES[6], 6, 13, [*path, HASHES[0]])
    with pytest.raises(ValueError, match="shorter"):
        root_from_inclusion(HASHES[6], 6, 13, path[:-1])
    with pytest.raises(ValueError, match="outside"):
        root_from_inclusion(HASHES[6], 13, 13, path)


@pytest.fixture
def proof_setup(tmp_path: Path) -> tuple[Path, Path, Path]:
    private, public = make_keys(tmp_path)
    db = build_log(tmp_path, private, calls=6, every=5)
    return db, public, tmp_path


def _prove(db: Path, seq: int, out: Path) -> dict:
    result = cli("prove", str(seq), "--db", db)
    assert result.exit_code == 0, result.output
    out.write_text(result.output)
    return json.loads(result.output)


def test_prove_gives_a_proof_that_checks_with_the_public_key_alone(proof_setup) -> None:
    db, public, tmp_path = proof_setup
    proof_file = tmp_path / "proof.json"
    proof = _prove(db, 9, proof_file)
    assert proof["tree_size"] == 23 and proof["leaf_index"] == 8
    db.unlink()  # nothing of the log is needed any more
    result = cli("verify", "--proof", proof_file, "--public-key", public)
    assert result.exit_code == 0, result.output
    assert result.output == "OK: record 9 (call.received) is in the log signed by checkpoint 23\n"


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda p: p["record"]["data"].update(status="error"), "record 9 does not match its hash"),
        (lambda p: p["path"].reverse(), "record 9 is not in the log signed by checkpoint 23"),
        (lambda p: p["checkpoint"].update(size=24), "position or tree size disagrees"),
        (lambda p: p["checkpoint"].update(root="00" * 32), "checkpoint 23 is not signed by the trusted key"),
        (lambda p: p.pop("path"), "not an inclusion proof"),
    ],
)
def test_a_doctored_proof_fails(proof_setup, edit, message: str) -> None:
    db, public, tmp_path = proof_setup
    proof_file = tmp_path / "proof.json"
    proof = _prove(db, 9, proof_file)
    edit(proof)
    proof_file.write_text(json.dumps(proof))
    result = cli("verify", "--proof", proof_file, "--public-key", public)
    assert result.exit_code == 1
    assert message in result.output


def test_a_proof_from_another_key_fails(proof_setup) -> None:
    db, _, tmp_path = proof_setup
    _, other_public = make_keys(tmp_path, "other.pem")
    proof_file = tmp_path / "proof.json"
    _prove(db, 3, proof_file)
    result = cli("verify", "--proof", proof_file, "--public-key", other_public)
    assert result.exit_code == 1
    assert "not signed by the trusted key" in result.output


def test_prove_refuses_unknown_or_unsigned_records(tmp_path: Path) -> None:
    db = build_log(tmp_path, None, calls=1)
    assert "there is no record 99" in cli("prove", "99", "--db", db).output
    result = cli("prove", "2", "--db", db)
    assert result.exit_code == 1
    assert "not yet covered by a signed checkpoint" in result.output
