"""Signed checkpoints: the log's origin, size, head hash and Merkle root under an Ed25519 key.

The signed message is a fixed text (one field a line, the way transparency logs sign
their tree heads) so that anyone can check a checkpoint with a few lines of code in any
language and the public key alone.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gateway.audit.canonical import canonical_json
from gateway.errors import InvalidInput

_FORMAT = "agent-gateway audit checkpoint v1"


class KeyFileError(InvalidInput):
    """A key file that is missing, unreadable or not an Ed25519 key."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    origin: str
    size: int
    #: Hash of record `size` (the chain head), hex.
    head_hash: str
    #: RFC 6962 root over records 1..size, hex.
    root: str
    ts: float
    #: First 16 hex digits of the SHA-256 of the raw public key: which key signed.
    key_id: str
    signature: str

    def message(self) -> bytes:
        return signed_message(self.origin, self.size, self.head_hash, self.root, self.ts)

    def to_json(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "size": self.size,
            "head_hash": self.head_hash,
            "root": self.root,
            "ts": self.ts,
            "key_id": self.key_id,
            "signature": self.signature,
        }

    def encode(self) -> bytes:
        return canonical_json(self.to_json())

    @classmethod
    def from_json(cls, raw: Any) -> Checkpoint:
        try:
            return cls(
                origin=str(raw["origin"]),
                size=int(raw["size"]),
                head_hash=str(raw["head_hash"]),
                root=str(raw["root"]),
                ts=float(raw["ts"]),
                key_id=str(raw["key_id"]),
                signature=str(raw["signature"]),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None

    @classmethod
    def decode(cls, body: bytes) -> Checkpoint:
        try:
            return cls.from_json(json.loads(body))
        except json.JSONDecodeError as exc:
            raise ValueError(f"not a checkpoint: {exc}") from None


def signed_message(origin: str, size: int, head_hash: str, root: str, ts: float) -> bytes:
    return f"{_FORMAT}\n{origin}\n{size}\n{head_hash}\n{root}\n{canonical_json(ts).decode()}\n".encode()


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def sign(key: Ed25519PrivateKey, origin: str, size: int, head_hash: str, root: str, ts: float) -> Checkpoint:
    signature = key.sign(signed_message(origin, size, head_hash, root, ts))
    return Checkpoint(
        origin=origin,
        size=size,
        head_hash=head_hash,
        root=root,
        ts=ts,
        key_id=key_id(key.public_key()),
        signature=base64.b64encode(signature).decode(),
    )


def signature_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    try:
        public_key.verify(base64.b64decode(checkpoint.signature, validate=True), checkpoint.message())
    except (InvalidSignature, ValueError):
        return False
    return True


def generate_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def private_pem(key: Ed25519PrivateKey) -> bytes:
    pkcs8 = serialization.PrivateFormat.PKCS8
    return key.private_bytes(serialization.Encoding.PEM, pkcs8, serialization.NoEncryption())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read {what} {path}: {exc.strerror}") from None


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(_read(path, "signing key file"), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"signing key file {path} is not an unencrypted PEM private key: {exc}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"signing key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A PEM public key, or the public half of a PEM private key."""
    data = _read(path, "public key file")
    if b"PRIVATE KEY" in data:
        return load_private_key(path).public_key()
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"public key file {path} is not a PEM public key: {exc}") from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"public key file {path} holds a {type(key).__name__}, not an Ed25519 key")
    return key
