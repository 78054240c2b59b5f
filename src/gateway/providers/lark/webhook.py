"""Lark / Feishu event subscription verification (the ``feishu`` alias uses this verifier).

Scheme (shared/providers.md §4.1-4.2):

- With an Encrypt Key, Lark signs every event: ``X-Lark-Signature = hex(SHA256((timestamp +
  nonce + encrypt_key).encode() + raw_body))`` (plain SHA-256, not HMAC) and encrypts the body
  as ``{"encrypt": base64(iv | AES-256-CBC(key=SHA256(encrypt_key), PKCS#7))}``.
  ``url_verification`` is *not* signed by Lark; it is accepted on the verification token alone
  (it only produces a handshake, never a stored event). Any other event without the signature
  headers is refused with 401.
- The Verification Token is always checked (constant time): v2 ``header.token``, v1 and
  ``url_verification`` top-level ``token``. Without an Encrypt Key this is the only check.
- An encrypted body while no Encrypt Key is configured is refused (401).

No replay window is applied: Lark documents no tolerance, the SDK enforces none, and it is not
documented whether retries (5 s … 6 h later) are re-signed. Dedup on the event id guards replays.

Dedup id: v2 ``header.event_id``, v1 ``uuid``. Type: v2 ``header.event_type``, v1 ``event.type``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any, ClassVar

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from pydantic import BaseModel, Field, SecretStr

from gateway.kit.errors import BadRequest
from gateway.providers.webhooks import (
    SIGNATURE_INVALID,
    SIGNATURE_MISSING,
    TOKEN_INVALID,
    WEBHOOK_CONFIG,
    HandshakeResponse,
    InboundRequest,
    VerifiedWebhook,
    WebhookVerifier,
    as_identifier,
    constant_time_equal,
    parse_json_object,
    require_secret,
    unauthenticated,
)

_SIGNATURE_HEADERS = ("x-lark-request-timestamp", "x-lark-request-nonce", "x-lark-signature")


class LarkWebhookConfig(BaseModel):
    """Endpoint config from the app's "Events & Callbacks > Encryption strategy" page."""

    model_config = WEBHOOK_CONFIG

    verification_token: SecretStr = Field(min_length=1)
    # None (not "") means "no encryption": an empty string is more likely a form mistake.
    encrypt_key: SecretStr | None = Field(default=None, min_length=1)


class LarkDecryptError(ValueError):
    """The ``encrypt`` field does not decrypt with this Encrypt Key."""


def decrypt_lark(encrypt_key: str, encrypted: str) -> bytes:
    """Decrypt a Lark ``encrypt`` value (base64 of IV | AES-256-CBC ciphertext, PKCS#7)."""
    try:
        raw = base64.b64decode(encrypted, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise LarkDecryptError("not base64") from exc
    iv, ciphertext = raw[:16], raw[16:]
    if len(iv) != 16 or not ciphertext or len(ciphertext) % 16:
        raise LarkDecryptError("bad ciphertext length")
    key = hashlib.sha256(encrypt_key.encode()).digest()
    decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    plain = decryptor.update(ciphertext) + decryptor.finalize()
    pad = plain[-1]
    if not 1 <= pad <= 16 or plain[-pad:] != bytes([pad]) * pad:
        raise LarkDecryptError("bad padding")
    return plain[:-pad]


def lark_signature(encrypt_key: str, timestamp: str, nonce: str, body: bytes) -> str:
    """Hex ``X-Lark-Signature`` for a raw body."""
    prefix = (timestamp + nonce + encrypt_key).encode("utf-8", "surrogatepass")
    return hashlib.sha256(prefix + body).hexdigest()


class LarkWebhookVerifier(WebhookVerifier[LarkWebhookConfig]):
    """Signature (with Encrypt Key), decryption, then the verification token."""

    provider: ClassVar[str] = "lark"
    config_schema: ClassVar[type[BaseModel]] = LarkWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("verification_token", "encrypt_key")

    def verify_single(self, request: InboundRequest, config: LarkWebhookConfig) -> VerifiedWebhook:
        """Authenticate as described in the module docstring, then classify."""
        token = require_secret(config.verification_token, "verification_token")
        encrypt_key = config.encrypt_key.get_secret_value() if config.encrypt_key else ""
        signed = bool(encrypt_key) and _check_signature(request, encrypt_key)
        # Until something authenticated the body, a parse failure is a 401, not a 400.
        unauth_code = SIGNATURE_MISSING if encrypt_key else TOKEN_INVALID
        try:
            document = parse_json_object(request.body)
        except BadRequest:
            if signed:
                raise
            raise unauthenticated(unauth_code, "unauthenticated body is not JSON") from None
        if "encrypt" in document:
            document = _decrypted(document["encrypt"], encrypt_key, signed)

        is_challenge = document.get("type") == "url_verification"
        if encrypt_key and not signed and not is_challenge:
            raise unauthenticated(SIGNATURE_MISSING, "missing X-Lark-Signature headers")
        header = document.get("header")
        received = header.get("token") if isinstance(header, dict) else document.get("token")
        if not isinstance(received, str) or not constant_time_equal(token, received):
            raise unauthenticated(TOKEN_INVALID, "verification token does not match")

        if is_challenge:
            challenge = document.get("challenge")
            if not isinstance(challenge, str):
                raise BadRequest("url_verification without a challenge", code="invalid_body")
            return VerifiedWebhook(
                provider_event_id=None,
                event_type="url_verification",
                payload=document,
                handshake=HandshakeResponse.from_json({"challenge": challenge}),
            )
        return VerifiedWebhook(
            provider_event_id=_event_id(document),
            event_type=_event_type(document),
            payload=document,
        )


def _check_signature(request: InboundRequest, encrypt_key: str) -> bool:
    """True if signed correctly, False if unsigned; 401 for partial or wrong signatures."""
    values = [request.header(name) for name in _SIGNATURE_HEADERS]
    if not any(values):
        return False
    timestamp, nonce, signature = values
    if not timestamp or not nonce or not signature:
        raise unauthenticated(SIGNATURE_MISSING, "incomplete X-Lark-* signature headers")
    expected = lark_signature(encrypt_key, timestamp, nonce, request.body)
    if not constant_time_equal(expected, signature.lower()):
        raise unauthenticated(SIGNATURE_INVALID, "Lark signature does not match")
    return True


def _decrypted(encrypted: Any, encrypt_key: str, signed: bool) -> dict[str, Any]:
    if not encrypt_key:
        raise unauthenticated(SIGNATURE_INVALID, "encrypted body but no encrypt_key configured")
    try:
        if not isinstance(encrypted, str):
            raise LarkDecryptError("encrypt is not a string")
        document = json.loads(decrypt_lark(encrypt_key, encrypted))
        if not isinstance(document, dict):
            raise LarkDecryptError("plaintext is not a JSON object")
    except (ValueError, RecursionError) as exc:  # LarkDecryptError, JSON and UTF-8 errors
        if signed:
            raise BadRequest("signed body does not decrypt", code="invalid_body") from exc
        raise unauthenticated(SIGNATURE_INVALID, "body does not decrypt with encrypt_key") from exc
    return document


def _event_id(document: dict[str, Any]) -> str | None:
    header = document.get("header")
    if isinstance(header, dict):
        return as_identifier(header.get("event_id"))
    return as_identifier(document.get("uuid"))


def _event_type(document: dict[str, Any]) -> str | None:
    header = document.get("header")
    if isinstance(header, dict):
        value = header.get("event_type")
    else:
        event = document.get("event")
        value = event.get("type") if isinstance(event, dict) else document.get("type")
    return value if isinstance(value, str) else None


VERIFIER = LarkWebhookVerifier()
