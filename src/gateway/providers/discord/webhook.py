"""Discord interactions endpoint and Webhook Events verification.

Scheme (shared/providers.md §2.1): Ed25519 over ``X-Signature-Timestamp + raw_body`` with the
application's public key, signature hex in ``X-Signature-Ed25519``; failures answer 401 (Discord
sends deliberately bad signatures and removes endpoints that accept them).

Replay window: Discord documents none. We apply ±300 s when the signed timestamp is numeric
(Discord sends unix seconds), which bounds replays of captured requests.

Payload classification (one URL may receive both kinds):

========================================  =========================================  ===========
payload                                    result                                     dedup id
========================================  =========================================  ===========
``type: 0`` (Webhook Events PING)          handshake 204, empty                       -
``type: 1`` with ``event``                 ack 204 empty; type = ``event.type``       sha256(body)
``type: 1`` without ``event`` (PING)       handshake 200 ``{"type":1}`` (PONG)        -
``type: 2`` APPLICATION_COMMAND            ack 200 ``{"type":5}`` deferred message    ``id``
``type: 3`` MESSAGE_COMPONENT              ack 200 ``{"type":6}`` deferred update     ``id``
``type: 4`` APPLICATION_COMMAND_AUTOCOMPLETE  ack 200 ``{"type":8,…choices:[]}``      ``id``
``type: 5`` MODAL_SUBMIT                   ack 200 ``{"type":5}`` deferred message    ``id``
========================================  =========================================  ===========

Deferred acks are chosen because the 3 s deadline leaves no time for a real answer: the worker
follows up through the interaction token. A component click defers an *update* (type 6) so no
"thinking…" message appears; autocomplete cannot be deferred, so it gets an empty choice list.
Webhook Events carry no event id, so the body digest is the dedup key.
"""

from __future__ import annotations

import re
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pydantic import BaseModel, Field

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
    require_header,
    sha256_hex,
    unauthenticated,
)

_SIGNATURE_HEX = re.compile(r"[0-9a-fA-F]{128}")

# Interaction type -> (raw type name from the Discord docs, deferred acknowledgement body).
_INTERACTIONS: dict[int, tuple[str, dict[str, Any]]] = {
    2: ("APPLICATION_COMMAND", {"type": 5}),
    3: ("MESSAGE_COMPONENT", {"type": 6}),
    4: ("APPLICATION_COMMAND_AUTOCOMPLETE", {"type": 8, "data": {"choices": []}}),
    5: ("MODAL_SUBMIT", {"type": 5}),
}


class DiscordWebhookConfig(BaseModel):
    """Endpoint config: the application's public key (not a secret) as 64 hex characters."""

    model_config = WEBHOOK_CONFIG

    public_key: str = Field(pattern=r"^[0-9a-fA-F]{64}$")


class DiscordWebhookVerifier(WebhookVerifier[DiscordWebhookConfig]):
    """Ed25519 signatures; interactions and Webhook Events on one endpoint."""

    provider: ClassVar[str] = "discord"
    config_schema: ClassVar[type[BaseModel]] = DiscordWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ()

    def verify_single(
        self, request: InboundRequest, config: DiscordWebhookConfig
    ) -> VerifiedWebhook:
        """Authenticate with Ed25519, then classify the payload (see module docstring)."""
        public_key = _load_public_key(config.public_key)
        signature = require_header(request, "x-signature-ed25519")
        timestamp = require_header(request, "x-signature-timestamp")
        if timestamp.isascii() and timestamp.isdigit():
            check_timestamp(timestamp, request.now)
        if not _SIGNATURE_HEX.fullmatch(signature):
            raise unauthenticated(SIGNATURE_INVALID, "malformed Discord signature")
        try:
            public_key.verify(bytes.fromhex(signature), timestamp.encode() + request.body)
        except InvalidSignature as exc:
            raise unauthenticated(SIGNATURE_INVALID, "Discord signature does not match") from exc
        return _classify(parse_json_object(request.body), request.body)


def _load_public_key(hex_key: str) -> Ed25519PublicKey:
    # The schema validates the format; this guards configs built without validation.
    try:
        return Ed25519PublicKey.from_public_bytes(bytes.fromhex(hex_key))
    except ValueError as exc:
        raise unauthenticated(
            SIGNATURE_INVALID, "webhook endpoint has no valid public_key"
        ) from exc


def _classify(body: dict[str, Any], raw: bytes) -> VerifiedWebhook:
    kind = body.get("type")
    if isinstance(kind, bool) or not isinstance(kind, int):
        raise BadRequest("Discord payload without an integer type", code="invalid_body")
    if kind == 0 and "event" not in body:
        return VerifiedWebhook(None, "PING", body, handshake=HandshakeResponse.empty(204))
    if kind == 1 and "event" in body:
        event = body["event"]
        event_type = event.get("type") if isinstance(event, dict) else None
        return VerifiedWebhook(
            provider_event_id=sha256_hex(raw),
            event_type=event_type if isinstance(event_type, str) else None,
            payload=body,
            ack=HandshakeResponse.empty(204),
        )
    if kind == 1:
        return VerifiedWebhook(
            None, "PING", body, handshake=HandshakeResponse.from_json({"type": 1})
        )
    if kind in _INTERACTIONS:
        interaction_id = as_identifier(body.get("id"))
        if interaction_id is None:
            raise BadRequest("interaction without an id", code="invalid_body")
        type_name, ack_body = _INTERACTIONS[kind]
        return VerifiedWebhook(
            provider_event_id=interaction_id,
            event_type=type_name,
            payload=body,
            ack=HandshakeResponse.from_json(ack_body),
        )
    raise BadRequest("unsupported Discord payload type", code="unsupported_event")


VERIFIER = DiscordWebhookVerifier()
