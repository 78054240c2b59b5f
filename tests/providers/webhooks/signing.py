"""Produce deliveries exactly as each platform sends them, for the tests.

The signers themselves live in :mod:`gateway.sandbox.signers` (one implementation, shared with
the sandbox sender and ``gateway webhooks send``); this module re-exports them and adds only the
fixed nonces and event names the tests' vectors use as defaults. The WXBizMsgCrypt encryption
(WeCom, DingTalk) is cross-checked against wechatpy in the provider tests, so the signers and the
verifiers cannot drift together unnoticed.
"""

from __future__ import annotations

from typing import Literal

from gateway.sandbox import signers
from gateway.sandbox.signers import (
    SignedDelivery,
    discord_public_key,
    encrypt_lark,
    json_bytes,
    sign_dingtalk_robot,
    sign_discord,
    sign_generic,
    sign_lark,
    sign_slack,
    sign_standard,
    standard_signature,
    telegram_delivery,
    wecom_url_check,
)

__all__ = [
    "SignedDelivery",
    "discord_public_key",
    "encrypt_dingtalk",
    "encrypt_lark",
    "encrypt_wecom",
    "json_bytes",
    "lark_encrypted_delivery",
    "sign_dingtalk_robot",
    "sign_discord",
    "sign_generic",
    "sign_github",
    "sign_lark",
    "sign_slack",
    "sign_standard",
    "standard_signature",
    "telegram_delivery",
    "wecom_url_check",
]


def lark_encrypted_delivery(
    encrypt_key: str,
    plaintext: bytes,
    timestamp: int,
    nonce: str = "nonce123",
    *,
    signed: bool = True,
) -> SignedDelivery:
    """An encrypted (and, like every real event, signed) Lark delivery."""
    return signers.lark_delivery(encrypt_key, plaintext, timestamp, nonce, signed=signed)


def encrypt_dingtalk(
    token: str,
    aes_key: str,
    app_key: str,
    plaintext: bytes,
    timestamp_ms: int,
    nonce: str = "WL4PK6yA",
) -> SignedDelivery:
    """A DingTalk event-subscription push (the nonce of DingTalk's documented example)."""
    return signers.encrypt_dingtalk(token, aes_key, app_key, plaintext, timestamp_ms, nonce)


def encrypt_wecom(
    token: str,
    aes_key: str,
    corp_id: str,
    plaintext: bytes,
    timestamp: int,
    nonce: str = "1597212914",
    *,
    mode: Literal["xml", "json"] = "xml",
) -> SignedDelivery:
    """A WeCom encrypted message POST (the nonce of WeCom's documented example)."""
    return signers.encrypt_wecom(token, aes_key, corp_id, plaintext, timestamp, nonce, mode=mode)


def sign_github(
    secret: str, body: bytes, *, event: str = "push", delivery: str = "delivery-1"
) -> SignedDelivery:
    """A GitHub delivery, a ``push`` unless told otherwise."""
    return signers.sign_github(secret, body, event=event, delivery=delivery)
