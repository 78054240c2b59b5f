"""Turn a sample event into the delivery a platform would send to one endpoint.

``build_delivery(provider, config, sample, …)`` signs (and encrypts) ``sample`` the way that
provider does, with the endpoint's own secrets. Unless ``keep_ids`` is set, the platform's dedup
id in the sample is replaced with a fresh one first (like ``stripe trigger``: every send is a new
event; keep the ids to watch the gateway drop a duplicate). For Lark the endpoint's verification
token is written into the event, as the platform does. Discord signs with its application's
*private* key, which the gateway never holds: pass its 32-byte seed (hex) to sign a Discord
sample, or get a clear refusal.
"""

from __future__ import annotations

import json
import secrets
import uuid
from collections.abc import Mapping
from typing import Any, Final

from gateway.providers.registry import get_provider
from gateway.sandbox import signers
from gateway.sandbox.signers import SignedDelivery

SUPPORTED: Final = (
    "slack",
    "discord",
    "telegram",
    "lark",
    "dingtalk",
    "wecom",
    "github",
    "standard",
    "generic",
    "sandbox",
)


class DeliveryError(ValueError):
    """The sample cannot be sent to this endpoint (message says what to do instead)."""


def _fresh_ids(provider: str, document: dict[str, Any]) -> None:
    """Replace the platform's dedup id(s) in ``document`` in place."""
    token = secrets.token_hex(8)
    if provider == "slack" and "event_id" in document:
        document["event_id"] = f"Ev{token.upper()}"
    elif provider == "telegram":
        document["update_id"] = secrets.randbelow(2**31)
    elif provider == "lark":
        header = document.get("header")
        if isinstance(header, dict):
            header["event_id"] = uuid.uuid4().hex
        elif "uuid" in document:
            document["uuid"] = uuid.uuid4().hex
    elif provider == "discord" and "id" in document:
        document["id"] = str(secrets.randbelow(10**18) + 10**18)
    elif provider == "dingtalk":
        for key in ("msgId", "EventId"):
            if key in document:
                document[key] = f"msg{token}"
    elif provider == "wecom" and "MsgId" in document:
        document["MsgId"] = str(secrets.randbelow(10**18))
    elif provider in ("sandbox", "standard") and "id" in document:
        document["id"] = f"{'sbe' if provider == 'sandbox' else 'msg'}_{token}"


def _with_lark_token(document: dict[str, Any], token: str) -> None:
    header = document.get("header")
    if isinstance(header, dict):
        header["token"] = token
    else:
        document["token"] = token


def _text(config: Mapping[str, Any], key: str) -> str:
    value = config.get(key)
    if not isinstance(value, str) or not value:
        raise DeliveryError(f"the endpoint's config has no {key}")
    return value


def build_delivery(
    provider: str,
    config: Mapping[str, Any],
    sample: bytes,
    *,
    now: float,
    keep_ids: bool = False,
    discord_private_key: str | None = None,
    event_name: str | None = None,
) -> SignedDelivery:
    """The signed delivery of ``sample`` for an endpoint of ``provider`` with ``config`` (its
    decrypted config document). ``event_name``: GitHub's ``X-GitHub-Event``."""
    resolved = get_provider(provider)
    provider = resolved.id if resolved is not None else provider
    if provider not in SUPPORTED:
        raise DeliveryError(f"no signer for provider {provider!r}")
    timestamp = int(now)
    is_xml = sample.lstrip().startswith(b"<")
    body = sample
    if not is_xml:
        try:
            document = json.loads(sample)
        except ValueError as exc:
            raise DeliveryError(f"the sample is not JSON: {exc}") from None
        if isinstance(document, dict):
            if not keep_ids:
                _fresh_ids(provider, document)
            if provider == "lark":
                _with_lark_token(document, _text(config, "verification_token"))
            body = signers.json_bytes(document)
    nonce = secrets.token_hex(8)
    if provider == "slack":
        return signers.sign_slack(_text(config, "signing_secret"), body, timestamp)
    if provider == "discord":
        return _discord(config, body, timestamp, discord_private_key)
    if provider == "telegram":
        return signers.telegram_delivery(_text(config, "secret_token"), body)
    if provider == "lark":
        key = config.get("encrypt_key")
        return signers.lark_delivery(key if isinstance(key, str) else None, body, timestamp, nonce)
    if provider == "dingtalk":
        if config.get("mode") == "robot":
            return signers.sign_dingtalk_robot(_text(config, "app_secret"), body, timestamp * 1000)
        return signers.encrypt_dingtalk(
            _text(config, "token"),
            _text(config, "aes_key"),
            _text(config, "app_key"),
            body,
            timestamp * 1000,
            nonce,
        )
    if provider == "wecom":
        return signers.encrypt_wecom(
            _text(config, "token"),
            _text(config, "encoding_aes_key"),
            _text(config, "corp_id"),
            body,
            timestamp,
            nonce,
            mode="xml" if is_xml else "json",
        )
    if provider == "github":
        delivery = str(uuid.uuid4()) if not keep_ids else "sample-delivery"
        event = event_name or "ping"
        return signers.sign_github(_text(config, "secret"), body, event=event, delivery=delivery)
    if provider == "generic":
        return _generic(config, body, timestamp, event_name)
    # standard and sandbox: Standard Webhooks, webhook-id = the event's id when it has one
    parsed = json.loads(body) if not is_xml else None
    msg_id = parsed.get("id") if isinstance(parsed, dict) else None
    if not isinstance(msg_id, str) or not msg_id:
        msg_id = f"msg_{secrets.token_hex(8)}"
    return signers.sign_standard(_text(config, "secret"), msg_id, timestamp, body)


def _discord(
    config: Mapping[str, Any], body: bytes, timestamp: int, private_key: str | None
) -> SignedDelivery:
    if not private_key:
        raise DeliveryError(
            "Discord signs with its application's private key, which the gateway never has: "
            "pass the 32-byte Ed25519 seed (hex) whose public key is the endpoint's public_key"
        )
    try:
        seed = bytes.fromhex(private_key)
    except ValueError:
        raise DeliveryError("the Discord private key must be 64 hex characters") from None
    if len(seed) != 32:
        raise DeliveryError("the Discord private key must be 64 hex characters")
    if signers.discord_public_key(seed) != str(config.get("public_key", "")).lower():
        raise DeliveryError("that private key does not match the endpoint's public_key")
    return signers.sign_discord(seed, body, str(timestamp))


def _generic(
    config: Mapping[str, Any], body: bytes, timestamp: int, event_name: str | None
) -> SignedDelivery:
    encoding = config.get("encoding", "hex")
    timestamp_header = config.get("timestamp_header")
    delivery = signers.sign_generic(
        _text(config, "secret"),
        body,
        signature_header=_text(config, "signature_header"),
        algorithm=str(config.get("algorithm") or "sha256"),
        encoding="base64" if encoding == "base64" else "hex",
        prefix=str(config.get("prefix") or ""),
        timestamp_header=timestamp_header if isinstance(timestamp_header, str) else None,
        timestamp=timestamp,
    )
    # Senders configured to name their events in headers get a fresh id and the event name.
    for key, value in (("event_id_header", uuid.uuid4().hex), ("event_type_header", event_name)):
        header = config.get(key)
        if isinstance(header, str) and header and value:
            delivery.headers[header] = value
    return delivery
