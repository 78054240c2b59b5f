"""Sign (and encrypt) webhook deliveries exactly as each platform does.

Used by the sandbox's webhook sender, by ``gateway webhooks send`` and by the tests (through
``tests/providers/webhooks/signing.py``); every function returns a :class:`SignedDelivery`
(method, headers, query, raw body) to post as is, or to turn into an :class:`InboundRequest` with
an injected clock. Timestamps are explicit.
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
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from gateway.providers.standard.webhook import decode_standard_secret
from gateway.providers.webhooks import InboundRequest
from gateway.providers.wxcrypto import WxMsgCrypt


@dataclass(frozen=True)
class SignedDelivery:
    """What a platform puts on the wire for one delivery."""

    body: bytes
    headers: dict[str, str] = field(default_factory=dict)
    query: dict[str, str] = field(default_factory=dict)
    method: str = "POST"

    def request(self, now: float) -> InboundRequest:
        """The delivery as received at ``now`` (unix seconds)."""
        return InboundRequest(
            method=self.method, headers=self.headers, query=self.query, body=self.body, now=now
        )

    def with_headers(self, **changes: str | None) -> SignedDelivery:
        """A copy with headers set (``None`` removes one); names are case-insensitive and ``_``
        stands for ``-``, so ``x_hub_signature_256=None`` drops ``X-Hub-Signature-256``."""
        headers = {k.lower(): v for k, v in self.headers.items()}
        for name, value in changes.items():
            key = name.lower().replace("_", "-")
            if value is None:
                headers.pop(key, None)
            else:
                headers[key] = value
        return replace(self, headers=headers)

    def with_query(self, **changes: str | None) -> SignedDelivery:
        """A copy with query parameters set (``None`` removes one)."""
        query = dict(self.query)
        for name, value in changes.items():
            if value is None:
                query.pop(name, None)
            else:
                query[name] = value
        return replace(self, query=query)


def json_bytes(document: Any) -> bytes:
    """Compact UTF-8 JSON, as platforms send it."""
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()


# --- HMAC senders ---------------------------------------------------------------------------


def sign_slack(
    signing_secret: str,
    body: bytes,
    timestamp: int,
    *,
    content_type: str = "application/json",
    retry_num: int | None = None,
) -> SignedDelivery:
    """``X-Slack-Signature: v0=hex(HMAC-SHA256(secret, "v0:{ts}:{body}"))``; ``retry_num`` adds
    the headers of Slack's redelivery after a timeout."""
    basestring = f"v0:{timestamp}:".encode() + body
    digest = hmac.new(signing_secret.encode(), basestring, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": str(timestamp),
        "X-Slack-Signature": f"v0={digest}",
    }
    if retry_num is not None:
        headers["X-Slack-Retry-Num"] = str(retry_num)
        headers["X-Slack-Retry-Reason"] = "http_timeout"
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
    """One ``v1,<base64>`` entry for a ``whsec_`` secret (Standard Webhooks). A malformed secret
    is a ValueError; an empty one signs with the empty key, which every verifier refuses."""
    key = decode_standard_secret(secret) if secret.removeprefix("whsec_") else b""
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
    extra_headers: Mapping[str, str] | None = None,
) -> SignedDelivery:
    """HMAC as a ``generic`` endpoint config describes it (``{ts}.{body}`` with a timestamp)."""
    content = body
    headers = {"Content-Type": "application/json", **(extra_headers or {})}
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


def sign_lark(encrypt_key: str, body: bytes, timestamp: int, nonce: str) -> SignedDelivery:
    """``X-Lark-Signature = hex(SHA256((ts + nonce + encrypt_key).encode() + body))``."""
    signature = hashlib.sha256(f"{timestamp}{nonce}{encrypt_key}".encode() + body).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Lark-Request-Timestamp": str(timestamp),
        "X-Lark-Request-Nonce": nonce,
        "X-Lark-Signature": signature,
    }
    return SignedDelivery(body=body, headers=headers)


def lark_delivery(
    encrypt_key: str | None, plaintext: bytes, timestamp: int, nonce: str, *, signed: bool = True
) -> SignedDelivery:
    """Without an Encrypt Key: the plain body (authenticated by its verification token). With
    one: ``{"encrypt": …}``, signed (as every real event is) unless ``signed`` is false (as the
    URL-verification challenge is)."""
    json_headers = {"Content-Type": "application/json"}
    if not encrypt_key:
        return SignedDelivery(body=plaintext, headers=json_headers)
    body = json_bytes({"encrypt": encrypt_lark(encrypt_key, plaintext)})
    if not signed:
        return SignedDelivery(body=body, headers=json_headers)
    return sign_lark(encrypt_key, body, timestamp, nonce)


# --- WXBizMsgCrypt (DingTalk, WeCom) ---------------------------------------------------------


def _wx_envelope(
    crypt: WxMsgCrypt, plaintext: bytes, timestamp: int, nonce: str, signature_name: str
) -> tuple[str, dict[str, str]]:
    """The encrypted text and the query that signs it: ``{signature_name, timestamp, nonce}``."""
    encrypt = crypt.encrypt(plaintext)
    query = {
        signature_name: crypt.sign(str(timestamp), nonce, encrypt),
        "timestamp": str(timestamp),
        "nonce": nonce,
    }
    return encrypt, query


# --- DingTalk -------------------------------------------------------------------------------


def encrypt_dingtalk(
    token: str, aes_key: str, app_key: str, plaintext: bytes, timestamp_ms: int, nonce: str
) -> SignedDelivery:
    """An event-subscription push: ``?signature&timestamp&nonce`` + ``{"encrypt": …}``."""
    crypt = WxMsgCrypt.create(token, aes_key, app_key)
    encrypt, query = _wx_envelope(crypt, plaintext, timestamp_ms, nonce, "signature")
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


def wecom_url_check(
    token: str, aes_key: str, corp_id: str, echo: bytes, timestamp: int, nonce: str
) -> SignedDelivery:
    """The GET WeCom sends when the callback URL is saved."""
    crypt = WxMsgCrypt.create(token, aes_key, corp_id)
    echostr, query = _wx_envelope(crypt, echo, timestamp, nonce, "msg_signature")
    return SignedDelivery(body=b"", query={**query, "echostr": echostr}, method="GET")


def encrypt_wecom(
    token: str,
    aes_key: str,
    corp_id: str,
    plaintext: bytes,
    timestamp: int,
    nonce: str,
    *,
    mode: Literal["xml", "json"] = "xml",
    agent_id: int = 1000002,
) -> SignedDelivery:
    """An encrypted message POST in XML (default) or JSON callback mode (``agentid`` a number,
    as WeCom sends it)."""
    crypt = WxMsgCrypt.create(token, aes_key, corp_id)
    encrypt, query = _wx_envelope(crypt, plaintext, timestamp, nonce, "msg_signature")
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
