"""Sign (and encrypt) webhook deliveries exactly as each platform does.

Used by the sandbox's webhook sender and by ``gateway webhooks send``; every function returns a
:class:`SignedDelivery` (method, headers, query, raw body) to post as is. Timestamps are explicit.
The schemes follow shared/providers.md and are cross-checked against the gateway's own verifiers
(``tests/sandbox/test_signers.py``); WXBizMsgCrypt (WeCom, DingTalk) reuses
:class:`gateway.providers.wxcrypto.WxMsgCrypt`. Nothing here needs a platform SDK.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
from dataclasses import dataclass, field
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.providers.standard.webhook import decode_standard_secret
from gateway.providers.wxcrypto import WxMsgCrypt


@dataclass(frozen=True)
class SignedDelivery:
    """What a platform puts on the wire for one delivery."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    method: str = "POST"


def json_bytes(document: Any) -> bytes:
    """Compact UTF-8 JSON, as platforms send it."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# --- HMAC senders ---------------------------------------------------------------------------


def sign_slack(signing_secret: str, body: bytes, timestamp: int) -> SignedDelivery:
    """``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))``."""
    basestring = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }
    return SignedDelivery(body=body, headers=headers)


def sign_github(secret: str, body: bytes, *, event: str, delivery: str) -> SignedDelivery:
    """``X-Hub-Signature-256: sha256=hex(HMAC-SHA256(secret, body))`` plus the event headers."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": f"sha256={digest}",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery,
    }
    return SignedDelivery(body=body, headers=headers)


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` entry for a ``whsec_`` secret (Standard Webhooks)."""
    key = decode_standard_secret(secret)
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def sign_standard(secret: str, msg_id: str, timestamp: int, body: bytes) -> SignedDelivery:
    """Standard Webhooks headers ``webhook-id``, ``webhook-timestamp``, ``webhook-signature``."""
    headers = {
        "Content-Type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": standard_signature(secret, msg_id, timestamp, body),
    }
    return SignedDelivery(body=body, headers=headers)


def sign_generic(
    secret: str,
    body: bytes,
    *,
    signature_header: str,
    algorithm: str = "sha256",
    encoding: Literal["hex", "base64"] = "hex",
    prefix: str = "",
    timestamp_header: str | None = None,
    timestamp: int | None = None,
) -> SignedDelivery:
    """HMAC as a ``generic`` endpoint config describes it (``{ts}.{body}`` with a timestamp)."""
    content = body
    headers = {"Content-Type": "application/json"}
    if timestamp_header is not None:
        if timestamp is None:
            raise ValueError("timestamp_header needs a timestamp")
        content = f"{timestamp}.".encode() + body
        headers[timestamp_header] = str(timestamp)
    digest = hmac.new(secret.encode(), content, algorithm).digest()
    encoded = digest.hex() if encoding == "hex" else base64.b64encode(digest).decode()
    headers[signature_header] = prefix + encoded
    return SignedDelivery(body=body, headers=headers)


# --- Discord (Ed25519) ----------------------------------------------------------------------


def discord_public_key(seed: bytes) -> str:
    """Hex public key of the Ed25519 key with this 32-byte seed."""
    public = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    return public.public_bytes(Encoding.Raw, PublicFormat.Raw).hex()


def sign_discord(seed: bytes, body: bytes, timestamp: str) -> SignedDelivery:
    """Ed25519 over ``timestamp + body`` with the key of ``seed``; signature hex."""
    signature = Ed25519PrivateKey.from_private_bytes(seed).sign(timestamp.encode() + body)
    headers = {
        "Content-Type": "application/json",
        "X-Signature-Ed25519": signature.hex(),
        "X-Signature-Timestamp": timestamp,
    }
    return SignedDelivery(body=body, headers=headers)


# --- Telegram ---------------------------------------------------------------------------------


def telegram_delivery(secret_token: str, body: bytes) -> SignedDelivery:
    """Telegram signs nothing: it only repeats the ``secret_token`` given to setWebhook."""
    headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret_token}
    return SignedDelivery(body=body, headers=headers)


# --- Lark / Feishu ----------------------------------------------------------------------------


def encrypt_lark(encrypt_key: str, plaintext: bytes) -> str:
    """``base64(iv | AES-256-CBC(SHA256(encrypt_key), iv, PKCS#7(plaintext)))``."""
    iv = os.urandom(16)
    key = hashlib.sha256(encrypt_key.encode()).digest()
    pad = 16 - len(plaintext) % 16
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    ciphertext = encryptor.update(plaintext + bytes([pad]) * pad) + encryptor.finalize()
    return base64.b64encode(iv + ciphertext).decode()


def lark_delivery(
    encrypt_key: str | None, plaintext: bytes, timestamp: int, nonce: str
) -> SignedDelivery:
    """Without an Encrypt Key: the plain body (authenticated by its verification token). With
    one: ``{"encrypt": …}`` signed ``hex(SHA256(ts + nonce + key + body))``."""
    if not encrypt_key:
        return SignedDelivery(body=plaintext, headers={"Content-Type": "application/json"})
    body = json_bytes({"encrypt": encrypt_lark(encrypt_key, plaintext)})
    signature = hashlib.sha256(f"{timestamp}{nonce}{encrypt_key}".encode() + body).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": str(timestamp),
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
    }
    return SignedDelivery(body=body, headers=headers)


# --- DingTalk -------------------------------------------------------------------------------


def encrypt_dingtalk(
    token: str, aes_key: str, app_key: str, plaintext: bytes, timestamp_ms: int, nonce: str
) -> SignedDelivery:
    """An event-subscription push: ``?signature&timestamp&nonce`` + ``{"encrypt": …}``."""
    crypt = WxMsgCrypt.create(token, aes_key, app_key)
    encrypt = crypt.encrypt(plaintext)
    query = {
        "signature": crypt.sign(str(timestamp_ms), nonce, encrypt),
        "timestamp": str(timestamp_ms),
        "nonce": nonce,
    }
    return SignedDelivery(
        body=json_bytes({"encrypt": encrypt}),
        headers={"Content-Type": "application/json"},
        query=query,
    )


def sign_dingtalk_robot(app_secret: str, body: bytes, timestamp_ms: int) -> SignedDelivery:
    """Robot callback headers: ``sign = base64(HMAC-SHA256(secret, f"{ts}\\n{secret}"))``."""
    message = f"{timestamp_ms}\n{app_secret}".encode()
    sign = base64.b64encode(hmac.new(app_secret.encode(), message, hashlib.sha256).digest())
    headers = {
        "Content-Type": "application/json",
        "timestamp": str(timestamp_ms),
        "sign": sign.decode(),
    }
    return SignedDelivery(body=body, headers=headers)


# --- WeCom ----------------------------------------------------------------------------------


def encrypt_wecom(
    token: str,
    aes_key: str,
    corp_id: str,
    plaintext: bytes,
    timestamp: int,
    nonce: str,
    *,
    mode: Literal["xml", "json"] = "xml",
    agent_id: str = "1000002",
) -> SignedDelivery:
    """An encrypted message POST in XML (default) or JSON callback mode."""
    crypt = WxMsgCrypt.create(token, aes_key, corp_id)
    encrypt = crypt.encrypt(plaintext)
    query = {
        "msg_signature": crypt.sign(str(timestamp), nonce, encrypt),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }
    if mode == "json":
        body = json_bytes({"tousername": corp_id, "encrypt": encrypt, "agentid": agent_id})
        headers = {"Content-Type": "application/json"}
    else:
        body = (
            f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>\n"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
            f"<AgentID><![CDATA[{agent_id}]]></AgentID>\n</xml>"
        ).encode()
        headers = {"Content-Type": "text/xml"}
    return SignedDelivery(body=body, headers=headers, query=query)
