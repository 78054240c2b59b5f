"""The "WXBizMsgCrypt" callback scheme shared by WeCom and DingTalk event push.

One implementation for both platforms (shared/providers.md §5.1 and §6.1):

    signature = hex(SHA1("".join(sorted([token, timestamp, nonce, encrypt]))))
    key       = base64decode(EncodingAESKey + "=")   43 chars -> 32 bytes; IV = key[:16]
    cipher    = AES-256-CBC, PKCS#7 padded to a multiple of **32** bytes (not the AES block)
    plaintext = random(16) | len(msg) as 4 bytes big-endian | msg | receive_id

``receive_id`` is the WeCom corp id (or suite id) and the DingTalk app key / corp id / suite key.
Errors are :class:`WxCryptoError`; callers map them onto 401s. Nothing here knows about HTTP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import secrets
import string
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from gateway.providers.webhooks import constant_time_equal

_PAD_BLOCK = 32
_RANDOM_ALPHABET = string.ascii_letters + string.digits


class WxCryptoError(Exception):
    """A ciphertext that does not decrypt to a well-formed message for our receive id."""


def decode_encoding_aes_key(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key of a 43-character EncodingAESKey; ValueError if malformed."""
    if len(encoding_aes_key) != 43:
        raise ValueError("must be exactly 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be base64 (A-Z, a-z, 0-9, +, /)") from exc
    if len(key) != 32:  # pragma: no cover - 43 valid base64 chars always decode to 32 bytes
        raise ValueError("must decode to 32 bytes")
    return key


def wx_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """Hex SHA-1 over the sorted concatenation of the four values."""
    joined = "".join(sorted([token, timestamp, nonce, encrypt]))
    return hashlib.sha1(joined.encode("utf-8", "surrogatepass")).hexdigest()


def _random_prefix() -> bytes:
    # Letters and digits like the official samples: the platforms never parse these 16 bytes,
    # but there is no reason to differ from what they send themselves.
    return "".join(secrets.choice(_RANDOM_ALPHABET) for _ in range(16)).encode()


@dataclass(frozen=True)
class WxMsgCrypt:
    """Sign, verify, encrypt and decrypt for one (token, key, receive id) triple."""

    token: str = field(repr=False)
    key: bytes = field(repr=False)
    receive_id: str

    @classmethod
    def create(cls, token: str, encoding_aes_key: str, receive_id: str) -> WxMsgCrypt:
        """Build from the platform's configuration values (ValueError if the key is malformed)."""
        return cls(
            token=token, key=decode_encoding_aes_key(encoding_aes_key), receive_id=receive_id
        )

    def sign(self, timestamp: str, nonce: str, encrypt: str) -> str:
        """The ``msg_signature`` for these values."""
        return wx_signature(self.token, timestamp, nonce, encrypt)

    def signature_matches(self, signature: str, timestamp: str, nonce: str, encrypt: str) -> bool:
        """Constant-time check of a received ``msg_signature`` (hex, case-insensitive)."""
        return constant_time_equal(self.sign(timestamp, nonce, encrypt), signature.lower())

    def encrypt(self, message: bytes, *, random_prefix: bytes | None = None) -> str:
        """Base64 (no newlines) ciphertext of ``message`` addressed to ``receive_id``."""
        prefix = random_prefix if random_prefix is not None else _random_prefix()
        if len(prefix) != 16:
            raise ValueError("random_prefix must be 16 bytes")
        plain = prefix + len(message).to_bytes(4, "big") + message + self.receive_id.encode()
        pad = _PAD_BLOCK - len(plain) % _PAD_BLOCK
        plain += bytes([pad]) * pad
        encryptor = self._cipher().encryptor()
        return base64.b64encode(encryptor.update(plain) + encryptor.finalize()).decode("ascii")

    def decrypt(self, encrypt: str) -> bytes:
        """The message inside ``encrypt``; WxCryptoError if malformed or for another receiver."""
        try:
            ciphertext = base64.b64decode(encrypt, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise WxCryptoError("ciphertext is not base64") from exc
        if not ciphertext or len(ciphertext) % 16:
            raise WxCryptoError("ciphertext length is not a multiple of the AES block")
        decryptor = self._cipher().decryptor()
        plain = decryptor.update(ciphertext) + decryptor.finalize()
        pad = plain[-1]
        if not 1 <= pad <= _PAD_BLOCK or pad > len(plain) or plain[-pad:] != bytes([pad]) * pad:
            raise WxCryptoError("bad padding")
        content = plain[16:-pad]
        if len(content) < 4:
            raise WxCryptoError("plaintext too short")
        length = int.from_bytes(content[:4], "big")
        if length > len(content) - 4:
            raise WxCryptoError("message length exceeds plaintext")
        message, receive_id = content[4 : 4 + length], content[4 + length :]
        if not constant_time_equal(receive_id, self.receive_id.encode()):
            raise WxCryptoError("message is addressed to another receive id")
        return message

    def _cipher(self) -> Cipher[modes.CBC]:
        return Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16]))
