"""WeCom (企业微信) callback verification: URL check (GET) and encrypted messages (POST).

The WXBizMsgCrypt scheme of :mod:`gateway.providers.wxcrypto` (shared/providers.md §6.1), query
``msg_signature``, ``timestamp`` (seconds), ``nonce``, receive id = ``corp_id``:

- GET with ``echostr``: verify over ``echostr``, decrypt, answer 200 ``text/plain`` with exactly
  the plaintext (no quotes, no newline). Nothing is stored.
- POST XML (``<Encrypt>``) or JSON (``encrypt``): verify, decrypt, parse the inner document
  (XML leaves become strings, repeated tags lists; JSON mode parses JSON). Documents with a DTD
  or entity declaration are refused (400) before parsing. ``ack`` is 200 with an empty body,
  which WeCom documents as "received, stop retrying"; replies are sent through the API later.

Dedup id: ``MsgId``, else sha256 of ``FromUserName:CreateTime[:Event]`` (WeCom's advice for
events). Type: ``MsgType``, or ``event:{Event}`` for events.

Replay window: WeCom documents none; ±1 h is applied to the signed timestamp so a captured
request cannot be replayed forever while clock skew and the 3 retries stay well inside it.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr, field_validator

from gateway.kit.errors import BadRequest
from gateway.providers.webhooks import (
    SIGNATURE_INVALID,
    WEBHOOK_CONFIG,
    HandshakeResponse,
    InboundRequest,
    VerifiedWebhook,
    WebhookVerifier,
    as_identifier,
    check_timestamp,
    parse_json_object,
    require_query,
    require_secret,
    sha256_hex,
    unauthenticated,
)
from gateway.providers.wxcrypto import WxCryptoError, WxMsgCrypt, decode_encoding_aes_key

TOLERANCE_SECONDS = 3600.0


class WeComWebhookConfig(BaseModel):
    """Endpoint config from the app's "接收消息 / API 接收" settings."""

    model_config = WEBHOOK_CONFIG

    token: SecretStr = Field(min_length=1)
    encoding_aes_key: SecretStr
    corp_id: str = Field(min_length=1)

    @field_validator("encoding_aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr) -> SecretStr:
        decode_encoding_aes_key(value.get_secret_value())
        return value


class WeComWebhookVerifier(WebhookVerifier[WeComWebhookConfig]):
    """``msg_signature`` + AES-256-CBC with a receive-id (corp id) check."""

    provider: ClassVar[str] = "wecom"
    config_schema: ClassVar[type[BaseModel]] = WeComWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("token", "encoding_aes_key")

    def verify_single(self, request: InboundRequest, config: WeComWebhookConfig) -> VerifiedWebhook:
        """URL verification for GET, encrypted message for anything else."""
        crypt = _crypt(config)
        signature = require_query(request, "msg_signature")
        timestamp = require_query(request, "timestamp")
        nonce = require_query(request, "nonce")
        check_timestamp(timestamp, request.now, tolerance=TOLERANCE_SECONDS)
        if request.method == "GET":
            echostr = require_query(request, "echostr")
            plaintext = _open(crypt, signature, timestamp, nonce, echostr)
            return VerifiedWebhook(
                provider_event_id=None,
                event_type="url_verification",
                payload={"echostr": plaintext.decode("utf-8", "replace")},
                handshake=HandshakeResponse.from_text(plaintext),
            )
        encrypt, is_xml = _envelope(request)
        message = _open(crypt, signature, timestamp, nonce, encrypt)
        payload = parse_xml_document(message) if is_xml else parse_json_object(message)
        return VerifiedWebhook(
            provider_event_id=_event_id(payload),
            event_type=_event_type(payload),
            payload=payload,
            ack=HandshakeResponse.empty(200),
        )


def _crypt(config: WeComWebhookConfig) -> WxMsgCrypt:
    token = require_secret(config.token, "token").decode()
    aes_key = require_secret(config.encoding_aes_key, "encoding_aes_key").decode()
    if not config.corp_id:
        raise unauthenticated(SIGNATURE_INVALID, "webhook endpoint has no corp_id configured")
    try:
        return WxMsgCrypt.create(token, aes_key, config.corp_id)
    except ValueError as exc:
        raise unauthenticated(SIGNATURE_INVALID, "webhook endpoint has a malformed key") from exc


def _open(crypt: WxMsgCrypt, signature: str, timestamp: str, nonce: str, encrypt: str) -> bytes:
    if not crypt.signature_matches(signature, timestamp, nonce, encrypt):
        raise unauthenticated(SIGNATURE_INVALID, "WeCom msg_signature does not match")
    try:
        return crypt.decrypt(encrypt)
    except WxCryptoError as exc:
        # Signed with our token but not for our key or corp id: not authenticated by us.
        raise unauthenticated(SIGNATURE_INVALID, "payload does not decrypt for this corp") from exc


def _envelope(request: InboundRequest) -> tuple[str, bool]:
    """The ``Encrypt`` value and whether the body is XML (else JSON mode)."""
    content_type = (request.header("content-type") or "").lower()
    is_xml = "xml" in content_type or (
        "json" not in content_type and request.body.lstrip().startswith(b"<")
    )
    encrypt: Any = None
    if is_xml:
        try:
            root: ET.Element | None = _parse_xml(request.body)  # a DTD raises BadRequest
        except (ET.ParseError, ValueError, LookupError):
            root = None
        node = root.find("Encrypt") if root is not None else None
        encrypt = node.text if node is not None else None
    else:
        try:
            encrypt = parse_json_object(request.body).get("encrypt")
        except BadRequest:
            encrypt = None
    if not isinstance(encrypt, str) or not encrypt:
        # The signature covers only this field, so without it nothing is authenticated.
        raise unauthenticated(SIGNATURE_INVALID, "body carries no Encrypt field")
    return encrypt, is_xml


def _parse_xml(data: bytes) -> ET.Element:
    # A DTD is the only way to declare entities (billion laughs, external entities); WeCom
    # never sends one, so refuse it outright instead of relying on parser defaults.
    upper = data.upper()
    if b"<!DOCTYPE" in upper or b"<!ENTITY" in upper:
        raise BadRequest(
            "XML with a DTD or entity declaration is not accepted", code="invalid_body"
        )
    return ET.fromstring(data)


def parse_xml_document(data: bytes) -> dict[str, Any]:
    """Parse a decrypted WeCom XML message into a dict (root element dropped), else 400."""
    try:
        root = _parse_xml(data)
    except (ET.ParseError, ValueError, LookupError) as exc:
        raise BadRequest("decrypted message is not valid XML", code="invalid_body") from exc
    value = _element_value(root)
    return value if isinstance(value, dict) else {}


def _element_value(element: ET.Element) -> Any:
    children = list(element)
    if not children:
        return element.text or ""
    result: dict[str, Any] = {}
    for child in children:
        value = _element_value(child)
        if child.tag not in result:
            result[child.tag] = value
        elif isinstance(result[child.tag], list):
            result[child.tag].append(value)
        else:
            result[child.tag] = [result[child.tag], value]
    return result


def _event_id(payload: dict[str, Any]) -> str | None:
    msg_id = as_identifier(payload.get("MsgId"))
    if msg_id:
        return msg_id
    sender = as_identifier(payload.get("FromUserName"))
    created = as_identifier(payload.get("CreateTime"))
    if not sender or not created:
        return None
    parts = [sender, created]
    event = as_identifier(payload.get("Event"))
    if event:
        parts.append(event)
    return sha256_hex(":".join(parts).encode())


def _event_type(payload: dict[str, Any]) -> str | None:
    msg_type = payload.get("MsgType")
    if not isinstance(msg_type, str):
        return None
    event = payload.get("Event")
    if msg_type == "event" and isinstance(event, str) and event:
        return f"event:{event}"
    return msg_type


VERIFIER = WeComWebhookVerifier()
