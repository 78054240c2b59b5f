"""Configurable HMAC webhook verification for senders without a dedicated provider.

The signature header carries ``prefix + encode(HMAC-<algorithm>(secret, content))`` where
``content`` is the raw body, or ``f"{timestamp}.{body}"`` when ``timestamp_header`` is set
(then the timestamp must be unix seconds within ±300 s: a signed timestamp is only worth
having with a replay window). Hex signatures are compared case-insensitively (decoded bytes are
compared), base64 ones must be standard base64.

Without ``timestamp_header`` there is no replay window: configure ``event_id_header`` or
``event_id_path`` so dedup can stop replays. ``event_type_path`` / ``event_id_path`` are dotted
JSON paths (``data.object.id``; numeric parts index arrays).
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, Field, SecretStr

from gateway.providers.webhooks import (
    SIGNATURE_INVALID,
    WEBHOOK_CONFIG,
    InboundRequest,
    JsonPayload,
    VerifiedWebhook,
    WebhookVerifier,
    as_identifier,
    check_timestamp,
    constant_time_equal,
    hmac_digest,
    is_form_encoded,
    lookup_path,
    parse_form,
    parse_json,
    require_header,
    require_secret,
    unauthenticated,
)

_HEADER_NAME = r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$"  # RFC 9110 token


class GenericWebhookConfig(BaseModel):
    """Endpoint config describing how the sender signs its requests."""

    model_config = WEBHOOK_CONFIG

    secret: SecretStr = Field(min_length=1)
    signature_header: str = Field(pattern=_HEADER_NAME)
    algorithm: Literal["sha256", "sha1", "sha512"] = "sha256"
    encoding: Literal["hex", "base64"] = "hex"
    prefix: str = ""
    timestamp_header: str | None = Field(default=None, pattern=_HEADER_NAME)
    event_id_header: str | None = Field(default=None, pattern=_HEADER_NAME)
    event_type_header: str | None = Field(default=None, pattern=_HEADER_NAME)
    event_id_path: str | None = Field(default=None, min_length=1)
    event_type_path: str | None = Field(default=None, min_length=1)


class GenericWebhookVerifier(WebhookVerifier[GenericWebhookConfig]):
    """HMAC over the body (optionally timestamp-prefixed) as described by the config."""

    provider: ClassVar[str] = "generic"
    config_schema: ClassVar[type[BaseModel]] = GenericWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    def verify_single(
        self, request: InboundRequest, config: GenericWebhookConfig
    ) -> VerifiedWebhook:
        """Authenticate per the config, then parse and extract id/type."""
        secret = require_secret(config.secret, "secret")
        received = require_header(request, config.signature_header)
        content = request.body
        if config.timestamp_header:
            timestamp = require_header(request, config.timestamp_header)
            check_timestamp(timestamp, request.now)
            content = timestamp.encode() + b"." + request.body
        if not received.startswith(config.prefix):
            raise unauthenticated(SIGNATURE_INVALID, "signature lacks the configured prefix")
        received_digest = _decode(received[len(config.prefix) :], config.encoding)
        expected = hmac_digest(secret, content, config.algorithm)
        if received_digest is None or not constant_time_equal(expected, received_digest):
            raise unauthenticated(SIGNATURE_INVALID, "signature does not match")
        payload = _parse(request)
        return VerifiedWebhook(
            provider_event_id=_pick(request, payload, config.event_id_header, config.event_id_path),
            event_type=_pick(request, payload, config.event_type_header, config.event_type_path),
            payload=payload,
        )


def _decode(value: str, encoding: str) -> bytes | None:
    try:
        if encoding == "hex":
            return bytes.fromhex(value)
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def _parse(request: InboundRequest) -> JsonPayload:
    if is_form_encoded(request):
        return parse_form(request.body)
    return parse_json(request.body)


def _pick(
    request: InboundRequest, payload: Any, header: str | None, path: str | None
) -> str | None:
    if header:
        value = request.header(header)
        if value:
            return value
    if path:
        return as_identifier(lookup_path(payload, path))
    return None


VERIFIER = GenericWebhookVerifier()
