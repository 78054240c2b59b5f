"""WeCom: the three official WXBizMsgCrypt samples, wechatpy cross-checks, XML handling."""

from __future__ import annotations

import re

import pytest
from pydantic import SecretStr, ValidationError
from wechatpy.enterprise.crypto import WeChatCrypto

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.webhooks import SIGNATURE_MISSING, sha256_hex
from gateway.providers.wecom.webhook import VERIFIER, WeComWebhookConfig
from gateway.providers.wxcrypto import WxMsgCrypt
from tests.providers.webhooks.signing import (
    SignedDelivery,
    encrypt_wecom,
    json_bytes,
    wecom_url_check,
)

# shared/providers.md §10.6 (sbzhu/weworkapi_python samples, commit 609f460)
TOKEN = "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo"
AES_KEY = "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt"
CORP_ID = "ww1436e0e65a779aee"
CONFIG = WeComWebhookConfig(
    token=SecretStr(TOKEN), encoding_aes_key=SecretStr(AES_KEY), corp_id=CORP_ID
)
NOW = 1_700_000_000

URL_CHECK = SignedDelivery(
    body=b"",
    method="GET",
    query={
        "msg_signature": "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb",
        "timestamp": "1476416373",
        "nonce": "47744683",
        "echostr": (
            "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="
        ),
    },
)
XML_MESSAGE = SignedDelivery(
    body=(
        b"<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>\n<Encrypt><![CDATA["
        b"Kl7kjoSf6DMD1zh7rtrHjFaDapSCkaOnwu3bqLc5tAybhhMl9pFeK8NslNPVdMwmBQTNoW4mY7AIjeLvEl3NyeTkAgGzBh"
        b"zTtRLNshw2AEew+kkYcD+Fq72Kt00fT0WnN87hGrW8SqGc+NcT3mu87Ha3dz1pSDi6GaUA6A0sqfde0VJPQbZ9U+3JWcoD"
        b"4Z5jaU0y9GSh010wsHF8KZD24YhmZH4ch4Ka7ilEbjbfvhKkNL65HHL0J6EYJIZUC2pFrdkJ7MhmEbU2qARR4iQHE7wy2"
        b"4qy0cRX3Mfp6iELcDNfSsPGjUQVDGxQDCWjayJOpcwocugux082f49HKYg84EpHSGXAyh+/oxwaWbvL6aSDPOYuPDGOCI8"
        b"jmnKiypE+]]></Encrypt>\n<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
    ),
    query={
        "msg_signature": "0c3914025cb4b4d68103f6bfc8db550f79dcf48e",
        "timestamp": "1476422779",
        "nonce": "1597212914",
    },
)
JSON_ENCRYPT = (
    "cjhLUX7UU4yCSelv1vz7T0zT8huF51bAMVWriNvO1FMegHrQZNrtvRxbwf0fUPsFvwqR0U0fgiJNEA5Y30F2MoI2S7vv3E"
    "jVQ68C0cjw9frBoUE2Hj0BvFp9h3u6Vbsg4lc1C8AtHdaN8orKuNKkLRLuYEL52R1J3v8olJGZRLnRdVKIivixmX/eQpzg"
    "eExtp20jI1HxRP1AAZ6xZoILdqDPO549LO4WeG+685JRUTdiwcY5fjZlqeMxuT4PpMn1X9OWsS7NRj06Wa5E3Tvg4twjWp"
    "39KPfOdRte6P1T4JU="
)
JSON_MESSAGE = SignedDelivery(
    body=json_bytes({"tousername": "wx5823bf96d3bd56c7", "encrypt": JSON_ENCRYPT, "agentid": 218}),
    query={
        "msg_signature": "e3647471e395139e2308c1fa963f2d648a00b90e",
        "timestamp": "1409659813",
        "nonce": "1372623149",
    },
)


def test_official_url_check_answers_the_exact_plaintext() -> None:
    result = VERIFIER.verify(URL_CHECK.request(1476416373), CONFIG)
    assert result.handshake is not None
    assert result.handshake.status_code == 200
    assert result.handshake.media_type == "text/plain"
    assert result.handshake.body == b"1288432023552776189"


def test_official_url_check_for_another_corp_is_refused() -> None:
    other = CONFIG.model_copy(update={"corp_id": "ww0000000000000000"})
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(URL_CHECK.request(1476416373), other)


def test_official_xml_message_decrypts_to_a_dict_with_msg_id() -> None:
    result = VERIFIER.verify(XML_MESSAGE.request(1476422779), CONFIG)
    assert result.payload == {
        "ToUserName": CORP_ID,
        "FromUserName": "ChenJiaShun",
        "CreateTime": "1476422779",
        "MsgType": "text",
        "Content": "你好",
        "MsgId": "1456453720",
        "AgentID": "1000002",
    }
    assert (result.provider_event_id, result.event_type) == ("1456453720", "text")
    assert result.ack is not None
    assert (result.ack.status_code, result.ack.body) == (200, b"")


def test_official_json_sample_authenticates_but_its_plaintext_is_not_json() -> None:
    # The official sample's plaintext is malformed JSON (providers.md §10.6c): signature and
    # decryption succeed (wechatpy agrees), so the verifier answers 400, not 401.
    query = JSON_MESSAGE.query
    sdk_plain = WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(
        {"Encrypt": JSON_ENCRYPT}, query["msg_signature"], query["timestamp"], query["nonce"]
    )
    assert WxMsgCrypt.create(TOKEN, AES_KEY, CORP_ID).decrypt(JSON_ENCRYPT) == sdk_plain.encode()
    assert '"FromUserName": :mycreate"' in sdk_plain
    with pytest.raises(BadRequest):
        VERIFIER.verify(JSON_MESSAGE.request(1409659813), CONFIG)


def test_wechatpy_encrypted_xml_event_verifies() -> None:
    inner = (
        "<xml><ToUserName><![CDATA[ww1436e0e65a779aee]]></ToUserName>"
        "<FromUserName><![CDATA[zhangsan]]></FromUserName><CreateTime>1700000000</CreateTime>"
        "<MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event>"
        "<AgentID>1</AgentID></xml>"
    )
    reply = WeChatCrypto(TOKEN, AES_KEY, CORP_ID).encrypt_message(inner, "n0nce", "1700000000")
    encrypt = re.search(r"<Encrypt><!\[CDATA\[(.+?)\]\]>", reply)
    signature = re.search(r"<MsgSignature><!\[CDATA\[(.+?)\]\]>", reply)
    assert encrypt
    assert signature
    body = f"<xml><ToUserName>{CORP_ID}</ToUserName><Encrypt>{encrypt.group(1)}</Encrypt></xml>"
    delivery = SignedDelivery(
        body=body.encode(),
        query={"msg_signature": signature.group(1), "timestamp": "1700000000", "nonce": "n0nce"},
    )
    result = VERIFIER.verify(delivery.request(NOW), CONFIG)
    assert result.event_type == "event:subscribe"
    assert result.provider_event_id == sha256_hex(b"zhangsan:1700000000:subscribe")


def test_our_encryption_is_read_by_wechatpy() -> None:
    delivery = encrypt_wecom(TOKEN, AES_KEY, CORP_ID, "<xml><A>é</A></xml>".encode(), NOW)
    query = delivery.query
    plaintext = WeChatCrypto(TOKEN, AES_KEY, CORP_ID).decrypt_message(
        delivery.body.decode(), query["msg_signature"], query["timestamp"], query["nonce"]
    )
    assert plaintext == "<xml><A>é</A></xml>"
    check = wecom_url_check(TOKEN, AES_KEY, CORP_ID, b"echo-42", NOW, "n")
    sdk = WeChatCrypto(TOKEN, AES_KEY, CORP_ID)
    assert (
        sdk.check_signature(
            check.query["msg_signature"], check.query["timestamp"], "n", check.query["echostr"]
        )
        == "echo-42"
    )
    assert VERIFIER.verify(check.request(NOW), CONFIG).handshake is not None


def test_nested_and_repeated_xml_elements() -> None:
    inner = (
        b"<xml><FromUserName>u</FromUserName><CreateTime>1</CreateTime><MsgType>event</MsgType>"
        b"<Event>pic_sysphoto</Event><SendPicsInfo><Count>2</Count><PicList>"
        b"<item><PicMd5Sum>a</PicMd5Sum></item><item><PicMd5Sum>b</PicMd5Sum></item>"
        b"</PicList></SendPicsInfo><Empty/></xml>"
    )
    result = VERIFIER.verify(
        encrypt_wecom(TOKEN, AES_KEY, CORP_ID, inner, NOW).request(NOW), CONFIG
    )
    assert result.payload["SendPicsInfo"] == {  # type: ignore[call-overload]
        "Count": "2",
        "PicList": {"item": [{"PicMd5Sum": "a"}, {"PicMd5Sum": "b"}]},
    }
    assert result.payload["Empty"] == ""  # type: ignore[call-overload]


@pytest.mark.parametrize(
    "body",
    [
        b'<!DOCTYPE xml [<!ENTITY e "x">]><xml><Encrypt>&e;</Encrypt></xml>',
        b'<?xml version="1.0"?><!doctype xml SYSTEM "file:///etc/passwd"><xml/>',
    ],
)
def test_outer_xml_with_a_dtd_is_refused(body: bytes) -> None:
    delivery = SignedDelivery(body=body, query=dict(XML_MESSAGE.query))
    with pytest.raises(BadRequest):
        VERIFIER.verify(delivery.request(1476422779), CONFIG)


def test_decrypted_xml_with_an_entity_is_refused() -> None:
    inner = b'<!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa">]><xml><Content>&a;&a;</Content></xml>'
    delivery = encrypt_wecom(TOKEN, AES_KEY, CORP_ID, inner, NOW)
    with pytest.raises(BadRequest):
        VERIFIER.verify(delivery.request(NOW), CONFIG)


@pytest.mark.parametrize("body", [b"<xml><ToUserName>x</ToUserName></xml>", b"<xml", b"{}"])
def test_envelope_without_encrypt_is_401(body: bytes) -> None:
    delivery = SignedDelivery(body=body, query=dict(XML_MESSAGE.query))
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(delivery.request(1476422779), CONFIG)


def test_url_check_without_echostr_is_signature_missing() -> None:
    delivery = URL_CHECK.with_query(echostr=None)
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(1476416373), CONFIG)
    assert info.value.code == SIGNATURE_MISSING


@pytest.mark.parametrize(
    ("field", "value"),
    [("encoding_aes_key", AES_KEY[:-1]), ("encoding_aes_key", "#" * 43), ("corp_id", "")],
)
def test_config_errors_name_the_field_without_echoing_it(field: str, value: str) -> None:
    raw = {"token": TOKEN, "encoding_aes_key": AES_KEY, "corp_id": CORP_ID, field: value}
    with pytest.raises(ValidationError) as info:
        VERIFIER.parse_config(raw)
    assert field in str(info.value)
    assert AES_KEY[:-1] not in str(info.value)
