"""DingTalk HTTP callbacks: event subscription (``mode="event"``) and robot messages (``"robot"``).

Event subscription (shared/providers.md §5.1), the WXBizMsgCrypt scheme of
:mod:`gateway.providers.wxcrypto`: query ``signature`` (or ``msg_signature``), ``timestamp`` (or
``timeStamp``, milliseconds) and ``nonce``; body ``{"encrypt": …}``; owner key = ``app_key``.
Every push, ``check_url`` included, must be answered with the encrypted ``"success"`` envelope
``{"msg_signature","timeStamp","nonce","encrypt"}``: for ``check_url`` it is the handshake, for
other events the ``ack``. It is encrypted with the config that verified the request, so the
answer stays readable during a key rotation. Dedup id: ``EventId``/``eventId`` when present
(DingTalk documents none), type: ``EventType``.

Robot callbacks (§5.2): headers ``timestamp`` (ms) and ``sign = base64(HMAC-SHA256(app_secret,
f"{timestamp}\\n{app_secret}"))``. The signature does not cover the body (reliability.md
pitfall 10): replay defence is the window plus dedup on ``msgId``; type: ``msgtype``.

Replay window: ±1 h for both. The robot window is DingTalk's own [S]; event push documents none,
and whether its retries are re-stamped is undocumented, so the same generous window is used
rather than risk refusing genuine retries. Dedup bounds replays inside the window.
"""

from __future__ import annotations

import base64
import secrets
import string
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, SecretStr, field_validator, model_validator

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
    constant_time_equal,
    hmac_digest,
    parse_json_object,
    require_header,
    require_query,
    require_secret,
    sha256_hex,
    unauthenticated,
)
from gateway.providers.wxcrypto import WxCryptoError, WxMsgCrypt, decode_encoding_aes_key

TOLERANCE_SECONDS = 3600.0
_REQUIRED = {"event": ("token", "aes_key", "app_key"), "robot": ("app_secret",)}


class DingTalkWebhookConfig(BaseModel):
    """Endpoint config; which keys are required depends on ``mode``."""

    model_config = WEBHOOK_CONFIG

    mode: Literal["event", "robot"] = "event"
    token: SecretStr | None = None
    aes_key: SecretStr | None = None
    app_key: str | None = None
    app_secret: SecretStr | None = None

    @field_validator("aes_key")
    @classmethod
    def _aes_key_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            decode_encoding_aes_key(value.get_secret_value())
        return value

    @model_validator(mode="after")
    def _mode_fields(self) -> DingTalkWebhookConfig:
        for name in _REQUIRED[self.mode]:
            value = getattr(self, name)
            text = value.get_secret_value() if isinstance(value, SecretStr) else value
            if not text:
                raise ValueError(f"{name} is required when mode is {self.mode!r}")
        return self


class DingTalkWebhookVerifier(WebhookVerifier[DingTalkWebhookConfig]):
    """Event subscription (encrypted) or robot callback (header HMAC), per ``config.mode``."""

    provider: ClassVar[str] = "dingtalk"
    config_schema: ClassVar[type[BaseModel]] = DingTalkWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("token", "aes_key", "app_secret")

    def verify_single(
        self, request: InboundRequest, config: DingTalkWebhookConfig
    ) -> VerifiedWebhook:
        """Dispatch on the configured mode."""
        if config.mode == "robot":
            return _verify_robot(request, config)
        return _verify_event(request, config)


def _verify_event(request: InboundRequest, config: DingTalkWebhookConfig) -> VerifiedWebhook:
    crypt = _event_crypt(config)
    signature = require_query(request, "signature", "msg_signature")
    timestamp = require_query(request, "timestamp", "timeStamp")
    nonce = require_query(request, "nonce")
    check_timestamp(timestamp, request.now, tolerance=TOLERANCE_SECONDS, milliseconds=True)
    encrypt = _encrypt_field(request.body)
    if not crypt.signature_matches(signature, timestamp, nonce, encrypt):
        raise unauthenticated(SIGNATURE_INVALID, "DingTalk signature does not match")
    try:
        message = crypt.decrypt(encrypt)
    except WxCryptoError as exc:
        # Signed with our token but not decryptable with our key/app_key: not for this config.
        raise unauthenticated(SIGNATURE_INVALID, "payload does not decrypt for this app") from exc
    payload = parse_json_object(message)
    event_type = payload.get("EventType")
    reply = success_reply(crypt, request.now)
    is_check_url = event_type == "check_url"
    return VerifiedWebhook(
        # Without an EventId, the decrypted text: a redelivery is encrypted afresh (new random
        # prefix), so a digest of the received body would never match the first one.
        provider_event_id=as_identifier(payload.get("EventId") or payload.get("eventId"))
        or "sha256:" + sha256_hex(message),
        event_type=event_type if isinstance(event_type, str) else None,
        payload=payload,
        handshake=reply if is_check_url else None,
        ack=None if is_check_url else reply,
    )


def _event_crypt(config: DingTalkWebhookConfig) -> WxMsgCrypt:
    token = require_secret(config.token, "token").decode()
    aes_key = require_secret(config.aes_key, "aes_key").decode()
    if not config.app_key:
        raise unauthenticated(SIGNATURE_INVALID, "webhook endpoint has no app_key configured")
    try:
        return WxMsgCrypt.create(token, aes_key, config.app_key)
    except ValueError as exc:
        raise unauthenticated(
            SIGNATURE_INVALID, "webhook endpoint has a malformed aes_key"
        ) from exc


def _encrypt_field(body: bytes) -> str:
    # The signature covers only this field, so the envelope must be read first; anything
    # without it is unauthenticated (401), not a client error.
    try:
        encrypt = parse_json_object(body).get("encrypt")
    except BadRequest as exc:
        raise unauthenticated(SIGNATURE_INVALID, "body carries no encrypt field") from exc
    if not isinstance(encrypt, str) or not encrypt:
        raise unauthenticated(SIGNATURE_INVALID, "body carries no encrypt field")
    return encrypt


def success_reply(crypt: WxMsgCrypt, now: float) -> HandshakeResponse:
    """The encrypted ``"success"`` answer DingTalk requires for every event push."""
    timestamp = str(int(now * 1000))
    nonce = "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(16))
    encrypt = crypt.encrypt(b"success")
    envelope: dict[str, Any] = {
        "msg_signature": crypt.sign(timestamp, nonce, encrypt),
        "timeStamp": timestamp,
        "nonce": nonce,
        "encrypt": encrypt,
    }
    return HandshakeResponse.from_json(envelope)


def robot_sign(app_secret: str, timestamp: str) -> str:
    """``base64(HMAC-SHA256(app_secret, f"{timestamp}\\n{app_secret}"))``."""
    secret = app_secret.encode()
    return base64.b64encode(hmac_digest(secret, f"{timestamp}\n{app_secret}".encode())).decode()


def _verify_robot(request: InboundRequest, config: DingTalkWebhookConfig) -> VerifiedWebhook:
    app_secret = require_secret(config.app_secret, "app_secret").decode()
    timestamp = require_header(request, "timestamp")
    sign = require_header(request, "sign")
    check_timestamp(timestamp, request.now, tolerance=TOLERANCE_SECONDS, milliseconds=True)
    if not constant_time_equal(robot_sign(app_secret, timestamp), sign):
        raise unauthenticated(SIGNATURE_INVALID, "DingTalk robot sign does not match")
    payload = parse_json_object(request.body)
    msgtype = payload.get("msgtype")
    return VerifiedWebhook(
        provider_event_id=as_identifier(payload.get("msgId")),
        event_type=msgtype if isinstance(msgtype, str) else None,
        payload=payload,
    )


VERIFIER = DingTalkWebhookVerifier()
