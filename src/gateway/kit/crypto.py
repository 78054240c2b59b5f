"""The keyring: the single place where ciphertext is made and opened.

AES-256-GCM with a random 96-bit nonce. Each ciphertext is bound to where it lives through the
associated data ``table|column|row_id|tenant_id|key_id``: copied to another row, column or
tenant, or with one byte flipped, it fails to open with :class:`DecryptionFailed`.

Stored form (text column): ``enc1:<key_id>:<base64url(nonce || ciphertext+tag)>``. The key id is
in clear so rotation can find rows by key and decryption knows which key to use.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from gateway.kit.errors import DecryptionFailed

PREFIX = "enc1"
_KEY_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,32}$")


class KeyringError(ValueError):
    """The configured key list is malformed (one-line, key material never included)."""


@dataclass(frozen=True)
class FieldContext:
    """Where a ciphertext lives: the associated data that binds it to its row."""

    table: str
    column: str
    row_id: str
    tenant_id: str

    def aad(self, key_id: str) -> bytes:
        return f"{self.table}|{self.column}|{self.row_id}|{self.tenant_id}|{key_id}".encode()


@dataclass(frozen=True)
class _Key:
    key_id: str
    aead: AESGCM

    def __repr__(self) -> str:
        return f"_Key(key_id={self.key_id!r}, material=***)"


def generate_key_line(key_id: str | None = None) -> str:
    """A new ``key_id:base64key`` line (256-bit key) as accepted by ``GATEWAY_ENCRYPTION_KEYS``."""
    kid = key_id or f"k{base64.b32encode(os.urandom(5)).decode().lower().rstrip('=')}"
    return f"{kid}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def key_id_of(stored: str) -> str | None:
    """The key id a stored ciphertext was made with (None if not a ciphertext)."""
    parts = stored.split(":", 2)
    if len(parts) != 3 or parts[0] != PREFIX:
        return None
    return parts[1]


class Keyring:
    """Several keys, newest first: the newest encrypts, every key decrypts."""

    def __init__(self, keys: Iterable[tuple[str, bytes]]) -> None:
        loaded: list[_Key] = []
        seen: set[str] = set()
        for key_id, material in keys:
            if not _KEY_ID_RE.match(key_id):
                raise KeyringError(f"invalid key id {key_id!r} (letters, digits, _ and -)")
            if key_id in seen:
                raise KeyringError(f"duplicate key id {key_id!r}")
            if len(material) != 32:
                raise KeyringError(f"key {key_id!r} must be 32 bytes (AES-256)")
            seen.add(key_id)
            loaded.append(_Key(key_id, AESGCM(material)))
        if not loaded:
            raise KeyringError("no encryption keys configured")
        self._keys = loaded
        self._by_id = {k.key_id: k for k in loaded}

    @classmethod
    def parse(cls, spec: str) -> Keyring:
        """Parse ``kid:base64key,kid2:base64key`` (newest first)."""
        pairs: list[tuple[str, bytes]] = []
        for raw in spec.replace("\n", ",").split(","):
            item = raw.strip()
            if not item:
                continue
            key_id, sep, b64 = item.partition(":")
            if not sep:
                raise KeyringError("each key must be written as key_id:base64key")
            try:
                material = base64.b64decode(b64.strip(), validate=True)
            except (binascii.Error, ValueError):
                raise KeyringError(f"key {key_id!r} is not valid base64") from None
            pairs.append((key_id.strip(), material))
        return cls(pairs)

    @property
    def primary_key_id(self) -> str:
        return self._keys[0].key_id

    @property
    def key_ids(self) -> list[str]:
        return [k.key_id for k in self._keys]

    def __repr__(self) -> str:
        return f"Keyring(key_ids={self.key_ids!r})"

    def encrypt(self, plaintext: str | bytes, where: FieldContext) -> str:
        key = self._keys[0]
        data = plaintext.encode() if isinstance(plaintext, str) else plaintext
        nonce = os.urandom(12)
        sealed = key.aead.encrypt(nonce, data, where.aad(key.key_id))
        return f"{PREFIX}:{key.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"

    def decrypt_bytes(self, stored: str, where: FieldContext) -> bytes:
        parts = stored.split(":", 2)
        if len(parts) != 3 or parts[0] != PREFIX:
            raise DecryptionFailed("value is not a gateway ciphertext")
        key = self._by_id.get(parts[1])
        if key is None:
            raise DecryptionFailed(f"ciphertext uses unknown key id {parts[1]!r}")
        try:
            blob = base64.urlsafe_b64decode(parts[2])
        except (binascii.Error, ValueError):
            raise DecryptionFailed("ciphertext is not valid base64") from None
        if len(blob) < 12 + 16:
            raise DecryptionFailed("ciphertext is truncated")
        try:
            return key.aead.decrypt(blob[:12], blob[12:], where.aad(key.key_id))
        except InvalidTag:
            raise DecryptionFailed("ciphertext failed authentication") from None

    def decrypt(self, stored: str, where: FieldContext) -> str:
        return self.decrypt_bytes(stored, where).decode()

    def needs_rotation(self, stored: str) -> bool:
        return key_id_of(stored) != self.primary_key_id

    def reencrypt(self, stored: str, where: FieldContext) -> str:
        """Open with whichever key made it, seal with the newest key."""
        return self.encrypt(self.decrypt_bytes(stored, where), where)
