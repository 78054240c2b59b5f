"""Discord: RFC 8032-derived vector, PyNaCl cross-check, PINGs and interaction acks."""

from __future__ import annotations

import json

import pytest
from nacl.signing import SigningKey
from pydantic import ValidationError

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.discord.webhook import VERIFIER, DiscordWebhookConfig
from gateway.providers.webhooks import sha256_hex
from tests.providers.webhooks.cases import RFC8032_SEED
from tests.providers.webhooks.signing import (
    SignedDelivery,
    discord_public_key,
    json_bytes,
    sign_discord,
)

# shared/providers.md §10.4 / §10.5
PUBLIC_KEY = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
VECTOR_SIGNATURE = (
    "1695961a47c91a1ec033b819b7e87e3dbc583dd0cee6d1fd0216f58ac87b6228"
    "ae531ddbf91fb7bc28d7edf7f08604da16f54624f38a6bc0614e4dc13cd47f0f"
)
CONFIG = DiscordWebhookConfig(public_key=PUBLIC_KEY)
NOW = 1_700_000_000


def _vector(body: bytes) -> SignedDelivery:
    headers = {"X-Signature-Ed25519": VECTOR_SIGNATURE, "X-Signature-Timestamp": "1700000000"}
    return SignedDelivery(body=body, headers=headers)


def test_vector_ping_is_answered_with_pong() -> None:
    result = VERIFIER.verify(_vector(b'{"type":1}').request(NOW), CONFIG)
    assert result.handshake is not None
    assert (result.handshake.status_code, result.handshake.body) == (200, b'{"type":1}')
    assert result.handshake.media_type == "application/json"


def test_vector_signature_does_not_cover_another_body() -> None:
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(_vector(b'{"type":2}').request(NOW), CONFIG)


def test_rfc8032_key_and_our_signer_reproduce_the_vector() -> None:
    assert discord_public_key(RFC8032_SEED) == PUBLIC_KEY
    delivery = sign_discord(RFC8032_SEED, b'{"type":1}', "1700000000")
    assert delivery.headers["X-Signature-Ed25519"] == VECTOR_SIGNATURE


def test_pynacl_signed_interaction_verifies_with_deferred_ack() -> None:
    key = SigningKey(bytes(range(32)))
    config = DiscordWebhookConfig(public_key=key.verify_key.encode().hex())
    body = json_bytes({"id": "1166123456789", "type": 2, "token": "t", "data": {"name": "ping"}})
    signature = key.sign(b"1700000000" + body).signature.hex()
    headers = {"X-Signature-Ed25519": signature, "X-Signature-Timestamp": "1700000000"}
    result = VERIFIER.verify(SignedDelivery(body, headers).request(NOW), config)
    assert result.provider_event_id == "1166123456789"
    assert result.event_type == "APPLICATION_COMMAND"
    assert result.ack is not None
    assert (result.ack.status_code, result.ack.body) == (200, b'{"type":5}')


@pytest.mark.parametrize(
    ("kind", "name", "ack"),
    [
        (3, "MESSAGE_COMPONENT", b'{"type":6}'),
        (4, "APPLICATION_COMMAND_AUTOCOMPLETE", b'{"type":8,"data":{"choices":[]}}'),
        (5, "MODAL_SUBMIT", b'{"type":5}'),
    ],
)
def test_interaction_types_get_a_valid_deferred_ack(kind: int, name: str, ack: bytes) -> None:
    body = json_bytes({"id": "99", "type": kind, "token": "t"})
    result = VERIFIER.verify(sign_discord(RFC8032_SEED, body, str(NOW)).request(NOW), CONFIG)
    assert (result.provider_event_id, result.event_type) == ("99", name)
    assert result.ack is not None
    assert result.ack.body == ack


def test_webhook_events_ping_gets_an_empty_204() -> None:
    body = json_bytes({"version": 1, "application_id": "1234567890", "type": 0})
    result = VERIFIER.verify(sign_discord(RFC8032_SEED, body, str(NOW)).request(NOW), CONFIG)
    assert result.handshake is not None
    assert (result.handshake.status_code, result.handshake.body) == (204, b"")


def test_webhook_event_is_acked_204_and_keyed_by_body_digest() -> None:
    body = json_bytes(
        {"version": 1, "application_id": "1", "type": 1, "event": {"type": "ENTITLEMENT_CREATE"}}
    )
    result = VERIFIER.verify(sign_discord(RFC8032_SEED, body, str(NOW)).request(NOW), CONFIG)
    assert result.provider_event_id == sha256_hex(body)
    assert result.event_type == "ENTITLEMENT_CREATE"
    assert result.ack is not None
    assert (result.ack.status_code, result.ack.body) == (204, b"")


def test_non_numeric_timestamp_is_verified_without_a_window() -> None:
    # Discord documents no freshness rule; only numeric timestamps get the ±300 s window.
    delivery = sign_discord(RFC8032_SEED, b'{"type":1}', "2024-01-01T00:00:00Z")
    assert VERIFIER.verify(delivery.request(NOW + 10**6), CONFIG).handshake is not None


@pytest.mark.parametrize(
    "signature", ["", "zz" * 64, "ab" * 63, VECTOR_SIGNATURE.upper()[:-2] + "00"]
)
def test_malformed_signatures_are_401(signature: str) -> None:
    delivery = _vector(b'{"type":1}').with_headers(x_signature_ed25519=signature)
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(delivery.request(NOW), CONFIG)


def test_unknown_or_untyped_payloads_are_400_after_verifying() -> None:
    for document in ({"type": 99, "id": "1"}, {"type": "1"}, {"type": True}, {"type": 2}):
        body = json.dumps(document).encode()
        with pytest.raises(BadRequest):
            VERIFIER.verify(sign_discord(RFC8032_SEED, body, str(NOW)).request(NOW), CONFIG)


@pytest.mark.parametrize("key", ["", "abc", PUBLIC_KEY + "00", "g" * 64])
def test_public_key_must_be_64_hex_characters(key: str) -> None:
    with pytest.raises(ValidationError, match="public_key"):
        VERIFIER.parse_config({"public_key": key})
