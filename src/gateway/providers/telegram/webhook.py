"""Telegram Bot API webhook verification.

Telegram signs nothing: with ``setWebhook(secret_token=…)`` every update carries the static
header ``X-Telegram-Bot-Api-Secret-Token`` (shared/providers.md §3.1). We compare it in constant
time and answer 401 ``token_invalid`` when it is missing or wrong. The body itself is *not*
authenticated and there is no timestamp, so replay defence is dedup on ``update_id``
(shared/reliability.md pitfall 10).

event_type is the update's payload field: the first key other than ``update_id``
(``message``, ``edited_message``, ``callback_query``, …).
"""

from __future__ import annotations

from typing import ClassVar

from pydantic import BaseModel, SecretStr, field_validator

from gateway.kit.errors import BadRequest
from gateway.providers.webhooks import (
    TOKEN_INVALID,
    WEBHOOK_CONFIG,
    InboundRequest,
    VerifiedWebhook,
    WebhookVerifier,
    constant_time_equal,
    parse_json_object,
    require_secret,
    unauthenticated,
)

_TOKEN_HEADER = "x-telegram-bot-api-secret-token"
_ALLOWED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


class TelegramWebhookConfig(BaseModel):
    """Endpoint config: the ``secret_token`` passed to ``setWebhook``."""

    model_config = WEBHOOK_CONFIG

    secret_token: SecretStr

    @field_validator("secret_token")
    @classmethod
    def _telegram_alphabet(cls, value: SecretStr) -> SecretStr:
        # Telegram's own rule; the message must not echo the value.
        token = value.get_secret_value()
        if not 1 <= len(token) <= 256 or not set(token) <= _ALLOWED:
            raise ValueError("must be 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value


class TelegramWebhookVerifier(WebhookVerifier[TelegramWebhookConfig]):
    """Constant-time check of the secret-token header."""

    provider: ClassVar[str] = "telegram"
    config_schema: ClassVar[type[BaseModel]] = TelegramWebhookConfig
    secret_fields: ClassVar[tuple[str, ...]] = ("secret_token",)

    def verify_single(
        self, request: InboundRequest, config: TelegramWebhookConfig
    ) -> VerifiedWebhook:
        """Check the header, then read ``update_id`` and the update kind."""
        expected = require_secret(config.secret_token, "secret_token")
        received = request.header(_TOKEN_HEADER)
        if not received or not constant_time_equal(expected, received):
            raise unauthenticated(TOKEN_INVALID, "missing or wrong Telegram secret token")
        update = parse_json_object(request.body)
        update_id = update.get("update_id")
        if isinstance(update_id, bool) or not isinstance(update_id, int):
            raise BadRequest("update without an integer update_id", code="invalid_body")
        kind = next((key for key in update if key != "update_id"), None)
        return VerifiedWebhook(
            provider_event_id=str(update_id),
            event_type=kind,
            payload=update,
            document=request.body,
        )


VERIFIER = TelegramWebhookVerifier()
