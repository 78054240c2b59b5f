"""Telegram: constant-time secret-token header; update_id and update kind."""

from __future__ import annotations

import pytest
from pydantic import SecretStr, ValidationError

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.telegram.webhook import VERIFIER, TelegramWebhookConfig
from gateway.providers.webhooks import TOKEN_INVALID
from tests.providers.webhooks.signing import json_bytes, telegram_delivery

TOKEN = "tg-Secret_1"
CONFIG = TelegramWebhookConfig(secret_token=SecretStr(TOKEN))
NOW = 1_700_000_000


@pytest.mark.parametrize(
    ("update", "kind"),
    [
        ({"update_id": 1, "message": {"text": "hi"}}, "message"),
        ({"update_id": 2, "edited_message": {"text": "hi"}}, "edited_message"),
        ({"callback_query": {"id": "5"}, "update_id": 3}, "callback_query"),
    ],
)
def test_update_kind_and_id(update: dict[str, object], kind: str) -> None:
    result = VERIFIER.verify(telegram_delivery(TOKEN, json_bytes(update)).request(NOW), CONFIG)
    assert result.event_type == kind
    assert result.provider_event_id == str(update["update_id"])


@pytest.mark.parametrize("token", [None, "", "tg-secret_1", TOKEN + " ", "tg-Secret_1é"])
def test_missing_or_wrong_token_is_token_invalid(token: str | None) -> None:
    delivery = telegram_delivery(TOKEN, b'{"update_id":1}').with_headers(
        x_telegram_bot_api_secret_token=token
    )
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), CONFIG)
    assert info.value.code == TOKEN_INVALID


def test_body_is_not_authenticated_so_dedup_is_the_only_replay_guard() -> None:
    # Documented limitation (reliability.md pitfall 10): any body with the right header passes.
    delivery = telegram_delivery(TOKEN, b'{"update_id":1,"message":{"text":"tampered"}}')
    assert VERIFIER.verify(delivery.request(NOW + 10**7), CONFIG).provider_event_id == "1"


@pytest.mark.parametrize("body", [b'{"message":{}}', b'{"update_id":"1"}', b'{"update_id":true}'])
def test_update_without_integer_id_is_400(body: bytes) -> None:
    with pytest.raises(BadRequest):
        VERIFIER.verify(telegram_delivery(TOKEN, body).request(NOW), CONFIG)


@pytest.mark.parametrize("token", ["", "a" * 257, "has space", "semi;colon", "ünï"])
def test_schema_enforces_telegram_alphabet_without_echoing_the_value(token: str) -> None:
    with pytest.raises(ValidationError) as info:
        VERIFIER.parse_config({"secret_token": token})
    assert "secret_token" in str(info.value)
    if token:
        assert token not in str(info.value)


def test_schema_accepts_the_full_alphabet_at_max_length() -> None:
    token = ("Az09_-" * 43)[:256]
    assert VERIFIER.parse_config({"secret_token": token}).secret_token.get_secret_value() == token
