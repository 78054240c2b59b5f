"""Lark/Feishu: official and local vectors, lark-oapi cross-checks, challenge and token rules."""

from __future__ import annotations

from typing import Any

import pytest
from lark_oapi.core.model import RawRequest
from lark_oapi.core.utils.decryptor import AESCipher
from lark_oapi.event.dispatcher_handler import EventDispatcherHandler
from pydantic import SecretStr

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.lark.webhook import (
    VERIFIER,
    LarkWebhookConfig,
    decrypt_lark,
    lark_signature,
)
from gateway.providers.webhooks import SIGNATURE_INVALID, SIGNATURE_MISSING, TOKEN_INVALID
from tests.providers.webhooks.signing import (
    SignedDelivery,
    encrypt_lark,
    json_bytes,
    lark_encrypted_delivery,
    sign_lark,
)

KEY = "test key"
TOKEN = "vtok123"
NOW = 1_700_000_000
ENCRYPTED = {"encrypt": "P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}  # §10.8 -> "hello world"
SIGNED_BODY = b'{"encrypt":"P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk="}'
SIGNED_HEADERS = {
    "X-Lark-Request-Timestamp": "1700000000",
    "X-Lark-Request-Nonce": "nonce123",
    "X-Lark-Signature": "669e3ed5328644f71370e3249f96af0fd17e5ed4d7b178c44f11f7997339e344",
}
ENCRYPTED_CHALLENGE = (
    b'{"encrypt":"AAAAAAAAAAAAAAAAAAAAAD6N0hj9vF9ERgmsJVWf4XdSLLbFMTD3bWObfgjFzYm3IpaKVPEW7qbhvb3mqCqsB'
    b'o7k7IINeOofiEg1vzESWpz7xbKYGZOmFAQZcfvK/s65"}'
)
ENCRYPTED_CONFIG = LarkWebhookConfig(
    verification_token=SecretStr(TOKEN), encrypt_key=SecretStr(KEY)
)
PLAIN_CONFIG = LarkWebhookConfig(verification_token=SecretStr(TOKEN))


def _v2_event(token: str = TOKEN) -> dict[str, Any]:
    return {
        "schema": "2.0",
        "header": {
            "event_id": "f7984f25108f8137722bb63cee927e66",
            "event_type": "im.message.receive_v1",
            "create_time": "1608725989000",
            "token": token,
            "app_id": "cli_a1",
            "tenant_key": "t1",
        },
        "event": {
            "sender": {"sender_id": {"open_id": "ou_1"}, "sender_type": "user"},
            "message": {
                "message_id": "om_1",
                "chat_id": "oc_1",
                "chat_type": "p2p",
                "message_type": "text",
                "content": '{"text":"hello"}',
                "create_time": "1608725989000",
            },
        },
    }


def test_official_decrypt_vector() -> None:
    assert decrypt_lark(KEY, ENCRYPTED["encrypt"]) == b"hello world"


def test_local_signature_vector_is_accepted_then_body_is_400() -> None:
    assert (
        lark_signature(KEY, "1700000000", "nonce123", SIGNED_BODY)
        == SIGNED_HEADERS["X-Lark-Signature"]
    )
    # "hello world" is not JSON: 400 shows the signature and decryption both succeeded.
    with pytest.raises(BadRequest):
        VERIFIER.verify(SignedDelivery(SIGNED_BODY, SIGNED_HEADERS).request(NOW), ENCRYPTED_CONFIG)


def test_local_signature_vector_with_flipped_signature_is_401() -> None:
    headers = {
        **SIGNED_HEADERS,
        "X-Lark-Signature": "769e" + SIGNED_HEADERS["X-Lark-Signature"][4:],
    }
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(SignedDelivery(SIGNED_BODY, headers).request(NOW), ENCRYPTED_CONFIG)
    assert info.value.code == SIGNATURE_INVALID


def test_encrypted_challenge_vector_is_answered_without_signature_headers() -> None:
    result = VERIFIER.verify(SignedDelivery(ENCRYPTED_CHALLENGE).request(NOW), ENCRYPTED_CONFIG)
    assert result.handshake is not None
    assert result.handshake.status_code == 200
    assert result.handshake.body == b'{"challenge":"ajls384kdjx98XX"}'


def test_encrypted_challenge_with_wrong_token_is_refused() -> None:
    config = LarkWebhookConfig(verification_token=SecretStr("other"), encrypt_key=SecretStr(KEY))
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(SignedDelivery(ENCRYPTED_CHALLENGE).request(NOW), config)
    assert info.value.code == TOKEN_INVALID


def test_plain_challenge_without_encrypt_key() -> None:
    body = b'{"challenge":"ajls384kdjx98XX","token":"vtok123","type":"url_verification"}'
    result = VERIFIER.verify(SignedDelivery(body).request(NOW), PLAIN_CONFIG)
    assert result.handshake is not None
    assert result.handshake.body == b'{"challenge":"ajls384kdjx98XX"}'


def test_our_encryptor_is_decrypted_by_lark_oapi() -> None:
    plaintext = json_bytes(_v2_event())
    encrypted = encrypt_lark(KEY, plaintext)
    assert AESCipher(KEY).decrypt_str(encrypted) == plaintext.decode()


def test_lark_oapi_dispatcher_accepts_our_signed_encrypted_event() -> None:
    received: list[Any] = []
    handler = (
        EventDispatcherHandler.builder(KEY, TOKEN)
        .register_p2_im_message_receive_v1(received.append)
        .build()
    )
    delivery = lark_encrypted_delivery(KEY, json_bytes(_v2_event()), NOW, "n0nce")
    raw = RawRequest()
    raw.uri = "/webhooks/lark/1"
    raw.body = delivery.body
    raw.headers = dict(delivery.headers)
    response = handler.do(raw)
    assert response.status_code == 200
    assert len(received) == 1

    result = VERIFIER.verify(delivery.request(NOW), ENCRYPTED_CONFIG)
    assert result.provider_event_id == "f7984f25108f8137722bb63cee927e66"
    assert result.event_type == "im.message.receive_v1"
    assert result.payload == _v2_event()


def test_v1_event_uses_uuid_and_inner_type() -> None:
    event = {"uuid": "u-1", "token": TOKEN, "type": "event_callback", "event": {"type": "message"}}
    result = VERIFIER.verify(SignedDelivery(json_bytes(event)).request(NOW), PLAIN_CONFIG)
    assert (result.provider_event_id, result.event_type) == ("u-1", "message")


def test_unsigned_encrypted_event_is_refused() -> None:
    delivery = lark_encrypted_delivery(KEY, json_bytes(_v2_event()), NOW, signed=False)
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), ENCRYPTED_CONFIG)
    assert info.value.code == SIGNATURE_MISSING


def test_unsigned_plain_event_is_refused_when_an_encrypt_key_is_configured() -> None:
    delivery = SignedDelivery(json_bytes(_v2_event()))
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), ENCRYPTED_CONFIG)
    assert info.value.code == SIGNATURE_MISSING


def test_encrypted_body_without_configured_key_is_401() -> None:
    delivery = lark_encrypted_delivery(KEY, json_bytes(_v2_event()), NOW)
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(delivery.request(NOW), PLAIN_CONFIG)


@pytest.mark.parametrize("token", ["wrong", "", None])
def test_signed_event_with_wrong_token_is_token_invalid(token: str | None) -> None:
    event = _v2_event()
    if token is None:
        del event["header"]["token"]
    else:
        event["header"]["token"] = token
    delivery = lark_encrypted_delivery(KEY, json_bytes(event), NOW)
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), ENCRYPTED_CONFIG)
    assert info.value.code == TOKEN_INVALID


def test_token_only_mode_rejects_wrong_token_and_rotates_by_token() -> None:
    delivery = SignedDelivery(json_bytes(_v2_event("old-token")))
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), PLAIN_CONFIG)
    assert info.value.code == TOKEN_INVALID
    previous = LarkWebhookConfig(verification_token=SecretStr("old-token"))
    assert VERIFIER.verify(delivery.request(NOW), PLAIN_CONFIG, [previous]).provider_event_id


def test_partial_signature_headers_are_signature_missing() -> None:
    delivery = sign_lark(KEY, SIGNED_BODY, NOW, "nonce123").with_headers(x_lark_request_nonce=None)
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), ENCRYPTED_CONFIG)
    assert info.value.code == SIGNATURE_MISSING


@pytest.mark.parametrize("encrypt", ["not base64!", "AAAA", "", 42])
def test_signed_but_undecryptable_body_is_400(encrypt: object) -> None:
    body = json_bytes({"encrypt": encrypt})
    with pytest.raises(BadRequest):
        VERIFIER.verify(sign_lark(KEY, body, NOW, "n").request(NOW), ENCRYPTED_CONFIG)
