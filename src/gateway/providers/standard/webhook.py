"""Standard Webhooks (Svix-compatible) verification.

Scheme (shared/providers.md §8): headers ``webhook-id``, ``webhook-timestamp`` (unix seconds),
``webhook-signature`` (space-separated ``version,signature`` entries). A ``v1`` entry is
``base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))`` with ``key`` the base64 part of the
``whsec_…`` secret. The request is accepted if ANY ``v1`` entry matches (senders list several
during their own key rotation); other versions (``v1a`` ed25519) are ignored, like the reference
library. Timestamp window ±300 s. Dedup on ``webhook-id``; type = payload ``type`` if present.
"""

from __future__ import annotations

import base64
import binascii
from typing import ClassVar

from pydantic import BaseModel, SecretStr, field_validator

from gateway.providers.webhooks import (
    SIGNATURE_INVALID,
    WEBHOOK_CONFIG,
    InboundRequest,
    VerifiedWebhook,
    WebhookVerifier,
    check_timestamp,
    constant_time_equal,
    hmac_digest,
    parse_json,
    require_header,
    unauthenticated,
)

_PREFIX = "whsec_"


def decode_standard_secret(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret (prefix optional); ValueError if malformed."""
    encoded = secret.removeprefix(_PREFIX)
    # Some senders hand out unpadded base64; the reference library pads it too.
    encoded += "=" * (-len(encoded) % 4)
    try:
        key = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be whsec_ followed by base64") from exc
    if not key:
        raise ValueError("must not be empty")
    return key


class StandardWebhookConfig(BaseModel):
    """Endpoint config: the sender's ``whsec_…`` signing secret."""

    model_config = WEBHOOK_CONFIG

    secret: SecretStr

    @field_validator("secret")
    @classmethod
    def _decodable(cls, value: SecretStr) -> SecretStr:
        decode_standard_secret(value.get_secret_value())
        return value


class StandardWebhookVerifier(WebhookVerifier[StandardWebhookConfig]):
    """``v1`` HMAC-SHA256 signatures with a ±300 s window."""

    provider: ClassVar[str] = "standard"
    config_schema: ClassVar[type[BaseModel]] = StandardWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    def verify_single(
        self, request: InboundRequest, config: StandardWebhookConfig
    ) -> VerifiedWebhook:
        """Authenticate against every ``v1`` entry, then parse."""
        try:
            key = decode_standard_secret(config.secret.get_secret_value())
        except ValueError as exc:
            raise unauthenticated(
                SIGNATURE_INVALID, "webhook endpoint has no valid secret"
            ) from exc
        msg_id = require_header(request, "webhook-id")
        timestamp = require_header(request, "webhook-timestamp")
        signatures = require_header(request, "webhook-signature")
        check_timestamp(timestamp, request.now)
        signed = msg_id.encode("utf-8", "surrogatepass") + b"." + timestamp.encode() + b"."
        expected = base64.b64encode(hmac_digest(key, signed + request.body)).decode()
        # No early exit: every entry is compared, so timing does not reveal which one matched.
        matched = False
        for entry in signatures.split(" "):
            version, _, value = entry.partition(",")
            if version == "v1" and constant_time_equal(expected, value):
                matched = True
        if not matched:
            raise unauthenticated(SIGNATURE_INVALID, "no webhook-signature entry matches")
        payload = parse_json(request.body)
        event_type = payload.get("type") if isinstance(payload, dict) else None
        return VerifiedWebhook(
            provider_event_id=msg_id,
            event_type=event_type if isinstance(event_type, str) else None,
            payload=payload,
        )


VERIFIER = StandardWebhookVerifier()
