"""Slack request verification (Events API, slash commands, interactivity).

Scheme (shared/providers.md §1.1): ``X-Slack-Signature: v0=hex(HMAC-SHA256(signing_secret,
"v0:" + X-Slack-Request-Timestamp + ":" + raw_body))``, timestamp within ±300 s.

Bodies and their dedup keys:

- Events API JSON: ``event_id``; type = inner ``event.type`` (e.g. ``message``), else the
  envelope ``type`` (``url_verification``, ``app_rate_limited``).
- ``url_verification`` (signed like any event): handshake 200 ``{"challenge": …}``.
- Slash command (form with ``command``): id = ``trigger_id``, type ``slash_command`` (Slack has no
  type field for commands; the name is ours).
- Interactivity (form with a JSON ``payload``): the payload is decoded in place; id =
  ``trigger_id``, else ``action_ts`` (top level or first action); type = payload ``type``.

``X-Slack-Retry-Num`` marks a redelivery (``is_retry``); dedup still happens on the id.
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, Field, SecretStr

from gateway.kit.errors import BadRequest
from gateway.providers.webhooks import (
    SIGNATURE_INVALID,
    WEBHOOK_CONFIG,
    HandshakeResponse,
    InboundRequest,
    JsonPayload,
    VerifiedWebhook,
    WebhookVerifier,
    as_identifier,
    check_timestamp,
    constant_time_equal,
    hmac_digest,
    is_form_encoded,
    parse_form,
    parse_json_object,
    require_header,
    require_secret,
    unauthenticated,
)


class SlackWebhookConfig(BaseModel):
    """Endpoint config: the app's Signing Secret (Basic Information page)."""

    model_config = WEBHOOK_CONFIG

    signing_secret: SecretStr = Field(min_length=1)


class SlackWebhookVerifier(WebhookVerifier[SlackWebhookConfig]):
    """``v0`` HMAC-SHA256 signatures with a ±300 s replay window."""

    provider: ClassVar[str] = "slack"
    config_schema: ClassVar[type[BaseModel]] = SlackWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("signing_secret",)

    def verify_single(self, request: InboundRequest, config: SlackWebhookConfig) -> VerifiedWebhook:
        """Authenticate, then parse (JSON or form) and classify the request."""
        secret = require_secret(config.signing_secret, "signing_secret")
        timestamp = require_header(request, "x-slack-request-timestamp")
        signature = require_header(request, "x-slack-signature")
        check_timestamp(timestamp, request.now)
        basestring = b"v0:" + timestamp.encode() + b":" + request.body
        expected = "v0=" + hmac_digest(secret, basestring).hex()
        if not constant_time_equal(expected, signature):
            raise unauthenticated(SIGNATURE_INVALID, "Slack signature does not match")

        is_retry = request.header("x-slack-retry-num") is not None
        if is_form_encoded(request) or not request.body.lstrip().startswith(b"{"):
            return _form_event(parse_form(request.body), is_retry)
        return _json_event(parse_json_object(request.body), is_retry, request.body)


def _json_event(body: dict[str, Any], is_retry: bool, document: bytes) -> VerifiedWebhook:
    envelope_type = body.get("type")
    if envelope_type == "url_verification":
        challenge = body.get("challenge")
        if not isinstance(challenge, str):
            raise BadRequest("url_verification without a challenge", code="invalid_body")
        return VerifiedWebhook(
            provider_event_id=None,
            event_type="url_verification",
            payload=body,
            handshake=HandshakeResponse.from_json({"challenge": challenge}),
        )
    event = body.get("event")
    inner_type = event.get("type") if isinstance(event, dict) else None
    event_type = inner_type if isinstance(inner_type, str) else envelope_type
    return VerifiedWebhook(
        provider_event_id=as_identifier(body.get("event_id")),
        event_type=event_type if isinstance(event_type, str) else None,
        payload=body,
        is_retry=is_retry,
        document=document,
    )


def _form_event(form: dict[str, Any], is_retry: bool) -> VerifiedWebhook:
    if "payload" in form:
        payload = parse_json_object(form["payload"])
        form["payload"] = payload
        event_id = as_identifier(payload.get("trigger_id")) or _action_ts(payload)
        payload_type = payload.get("type")
        return VerifiedWebhook(
            provider_event_id=event_id,
            event_type=payload_type if isinstance(payload_type, str) else None,
            payload=form,
            is_retry=is_retry,
        )
    if "command" in form:
        return VerifiedWebhook(
            provider_event_id=as_identifier(form.get("trigger_id")),
            event_type="slash_command",
            payload=form,
            is_retry=is_retry,
        )
    raise BadRequest("form body is neither a slash command nor an interaction", code="invalid_body")


def _action_ts(payload: JsonPayload) -> str | None:
    if not isinstance(payload, dict):
        return None
    direct = as_identifier(payload.get("action_ts"))
    if direct:
        return direct
    actions = payload.get("actions")
    if isinstance(actions, list) and actions and isinstance(actions[0], dict):
        return as_identifier(actions[0].get("action_ts"))
    return None


VERIFIER = SlackWebhookVerifier()
