"""DingTalk: official check_url vector, wechatpy cross-checks, success envelope, robot mode."""

from __future__ import annotations

import json
import re

import pytest
from pydantic import SecretStr, ValidationError
from wechatpy.enterprise.crypto import WeChatCrypto

from gateway.kit.errors import SignatureInvalid
from gateway.providers.dingtalk.webhook import VERIFIER, DingTalkWebhookConfig
from gateway.providers.webhooks import TIMESTAMP_STALE, HandshakeResponse
from tests.providers.webhooks.signing import (
    SignedDelivery,
    encrypt_dingtalk,
    json_bytes,
    sign_dingtalk_robot,
)

# shared/providers.md §10.7 (official DingCallbackCrypto3.py)
TOKEN = "mryue"
AES_KEY = "Yue0EfdN5900c1ce5cf6A152c63DDe1808a60c5ecd7"
APP_KEY = "ding6ccabc44d2c8d38b"
SIGNATURE = "03044561471240d4a14bb09372dfcfd4fd0e40cb"
TIMESTAMP = "1608001896814"
NONCE = "WL4PK6yA"
ENCRYPT = (
    "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyDCYxx"
    "OK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3"
)
VECTOR_NOW = 1608001896.814
CONFIG = DingTalkWebhookConfig(token=SecretStr(TOKEN), aes_key=SecretStr(AES_KEY), app_key=APP_KEY)
ROBOT = DingTalkWebhookConfig(mode="robot", app_secret=SecretStr("SECtest"))


def _vector(**query: str) -> SignedDelivery:
    params = {"signature": SIGNATURE, "timestamp": TIMESTAMP, "nonce": NONCE, **query}
    return SignedDelivery(body=json_bytes({"encrypt": ENCRYPT}), query=params)


def _assert_encrypted_success(reply: HandshakeResponse, now: float) -> None:
    """The reply must be DingTalk's envelope that decrypts (per wechatpy) to "success"."""
    assert (reply.status_code, reply.media_type) == (200, "application/json")
    envelope = json.loads(reply.body)
    assert set(envelope) == {"msg_signature", "timeStamp", "nonce", "encrypt"}
    assert re.fullmatch(r"[A-Za-z0-9+/=]+", envelope["encrypt"])  # plain base64, no newlines
    assert envelope["timeStamp"] == str(int(now * 1000))
    sdk = WeChatCrypto(TOKEN, AES_KEY, APP_KEY)
    plaintext = sdk.check_signature(
        envelope["msg_signature"], envelope["timeStamp"], envelope["nonce"], envelope["encrypt"]
    )
    assert plaintext == "success"


def test_official_check_url_vector_gets_the_encrypted_success_handshake() -> None:
    result = VERIFIER.verify(_vector().request(VECTOR_NOW), CONFIG)
    assert result.payload == {"EventType": "check_url"}
    assert result.event_type == "check_url"
    assert result.handshake is not None
    assert result.ack is None
    _assert_encrypted_success(result.handshake, VECTOR_NOW)


def test_legacy_query_names_are_accepted() -> None:
    delivery = SignedDelivery(
        body=json_bytes({"encrypt": ENCRYPT}),
        query={"msg_signature": SIGNATURE, "timeStamp": TIMESTAMP, "nonce": NONCE},
    )
    assert VERIFIER.verify(delivery.request(VECTOR_NOW), CONFIG).handshake is not None


def test_official_vector_outside_one_hour_is_stale() -> None:
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(_vector().request(VECTOR_NOW + 3601), CONFIG)
    assert info.value.code == TIMESTAMP_STALE


def test_official_vector_for_another_app_key_is_refused() -> None:
    other = CONFIG.model_copy(update={"app_key": "ding0000000000000000"})
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(_vector().request(VECTOR_NOW), other)


def test_wechatpy_encrypted_event_verifies_and_gets_the_success_ack() -> None:
    plaintext = '{"EventType":"user_add_org","EventId":"e-1","UserId":["u1"]}'
    xml = WeChatCrypto(TOKEN, AES_KEY, APP_KEY).encrypt_message(plaintext, "n0nce", "1700000000000")
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.+?)\]\]>", xml)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.+?)\]\]>", xml)
    assert encrypt
    assert signature
    delivery = SignedDelivery(
        body=json_bytes({"encrypt": encrypt.group(1)}),
        query={"signature": signature.group(1), "timestamp": "1700000000000", "nonce": "n0nce"},
    )
    result = VERIFIER.verify(delivery.request(1_700_000_000), CONFIG)
    assert (result.provider_event_id, result.event_type) == ("e-1", "user_add_org")
    assert result.handshake is None
    assert result.ack is not None
    _assert_encrypted_success(result.ack, 1_700_000_000)


def test_our_encryptor_is_decrypted_by_wechatpy() -> None:
    delivery = encrypt_dingtalk(TOKEN, AES_KEY, APP_KEY, b'{"EventType":"x"}', 1_700_000_000_000)
    encrypt = json.loads(delivery.body)["encrypt"]
    sdk = WeChatCrypto(TOKEN, AES_KEY, APP_KEY)
    query = delivery.query
    assert sdk.check_signature(query["signature"], query["timestamp"], query["nonce"], encrypt) == (
        '{"EventType":"x"}'
    )


def test_rotated_config_answers_with_the_key_that_verified() -> None:
    old_key = "a" * 43
    old = DingTalkWebhookConfig(token=SecretStr("old"), aes_key=SecretStr(old_key), app_key=APP_KEY)
    delivery = encrypt_dingtalk("old", old_key, APP_KEY, b'{"EventType":"x"}', 1_700_000_000_000)
    result = VERIFIER.verify(delivery.request(1_700_000_000), CONFIG, [old])
    assert result.ack is not None
    envelope = json.loads(result.ack.body)
    sdk = WeChatCrypto("old", old_key, APP_KEY)
    assert (
        sdk.check_signature(
            envelope["msg_signature"], envelope["timeStamp"], envelope["nonce"], envelope["encrypt"]
        )
        == "success"
    )


# --- robot mode ----------------------------------------------------------------------------


def test_robot_vector_sign() -> None:
    # shared/providers.md §10.9 (locally computed; no official vector exists)
    delivery = sign_dingtalk_robot("SECtest", b"{}", 1_700_000_000_000)
    assert delivery.headers["sign"] == "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="


def test_robot_message_verifies_with_msg_id_and_type() -> None:
    body = json_bytes({"msgtype": "text", "text": {"content": "hi"}, "msgId": "msg-1"})
    headers = {"timestamp": "1700000000000", "sign": "aZLLrriXgn05YbwaGR7knYsLeJADjr9NwLaNNKpxh4g="}
    result = VERIFIER.verify(SignedDelivery(body, headers).request(1_700_000_000), ROBOT)
    assert (result.provider_event_id, result.event_type) == ("msg-1", "text")


def test_robot_sign_does_not_cover_the_body() -> None:
    # Documented limitation (reliability.md pitfall 10): window + msgId dedup are the guard.
    delivery = sign_dingtalk_robot("SECtest", b'{"msgId":"m","msgtype":"text"}', 1_700_000_000_000)
    tampered = SignedDelivery(b'{"msgId":"m2","msgtype":"text"}', delivery.headers)
    assert VERIFIER.verify(tampered.request(1_700_000_000), ROBOT).provider_event_id == "m2"


# --- config --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"token": "t", "aes_key": AES_KEY}, "app_key"),
        ({"aes_key": AES_KEY, "app_key": APP_KEY}, "token"),
        ({"token": "t", "aes_key": AES_KEY[:-1], "app_key": APP_KEY}, "aes_key"),
        ({"token": "t", "aes_key": AES_KEY[:-1] + "!", "app_key": APP_KEY}, "aes_key"),
        ({"mode": "robot"}, "app_secret"),
        ({"mode": "stream", "app_secret": "x"}, "mode"),
    ],
)
def test_config_errors_name_the_field(raw: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError) as info:
        VERIFIER.parse_config(raw)
    assert field in str(info.value)
    assert AES_KEY[:-1] not in str(info.value)


def test_an_event_without_event_id_dedups_on_its_decrypted_text() -> None:
    """DingTalk encrypts each redelivery afresh: the dedup key must not depend on the
    ciphertext, or a retried event would be stored twice."""
    plaintext = json_bytes({"EventType": "user_add_org", "UserId": ["u1"], "CorpId": "ding1"})
    now = 1_700_000_000.0
    first = encrypt_dingtalk(TOKEN, AES_KEY, APP_KEY, plaintext, int(now * 1000), "nonce111")
    again = encrypt_dingtalk(TOKEN, AES_KEY, APP_KEY, plaintext, int(now * 1000) + 5, "nonce222")
    assert first.body != again.body
    one = VERIFIER.verify(first.request(now), CONFIG)
    two = VERIFIER.verify(again.request(now), CONFIG)
    assert one.provider_event_id is not None
    assert one.provider_event_id == two.provider_event_id
    assert one.event_type == "user_add_org"
    other = json_bytes({"EventType": "user_add_org", "UserId": ["u2"], "CorpId": "ding1"})
    third = encrypt_dingtalk(TOKEN, AES_KEY, APP_KEY, other, int(now * 1000), "nonce333")
    assert VERIFIER.verify(third.request(now), CONFIG).provider_event_id != one.provider_event_id
