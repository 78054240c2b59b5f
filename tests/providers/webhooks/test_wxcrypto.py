"""The shared WXBizMsgCrypt implementation against both official samples and wechatpy."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wechatpy.enterprise.crypto import WeChatCrypto

from gateway.providers.wxcrypto import (
    WxCryptoError,
    WxMsgCrypt,
    decode_encoding_aes_key,
    wx_signature,
)

WECOM = WxMsgCrypt.create(
    "hJqcu3uJ9Tn2gXPmxx2w9kkCkCE2EPYo",
    "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt",
    "ww1436e0e65a779aee",
)
ECHOSTR = "fsi1xnbH4yQh0+PJxcOdhhK6TDXkjMyhEPA7xB2TGz6b+g7xyAbEkRxN/3cNXW9qdqjnoVzEtpbhnFyq6SVHyA=="


def test_wecom_sample_signature_and_plaintext() -> None:
    assert (
        WECOM.sign("1476416373", "47744683", ECHOSTR) == "012bc692d0a58dd4b10f8dfe5c4ac00ae211ebeb"
    )
    assert WECOM.signature_matches(
        "012BC692D0A58DD4B10F8DFE5C4AC00AE211EBEB", "1476416373", "47744683", ECHOSTR
    )
    assert WECOM.decrypt(ECHOSTR) == b"1288432023552776189"


def test_dingtalk_sample_signature() -> None:
    encrypt = (
        "0vJiX6vliEpwG3U45CtXqi+m8PXbQRARJ8p8BbDuD1EMTDf0jKpQ79QS93qEk7XHpP6u+oTTrd15NRPvNvmBKyD"
        "CYxxOK+HZeKju4yhELOFchzNukR+t8SB/qk4ROMu3"
    )
    signature = wx_signature("mryue", "1608001896814", "WL4PK6yA", encrypt)
    assert signature == "03044561471240d4a14bb09372dfcfd4fd0e40cb"


def test_deterministic_encryption_reproduces_the_wecom_sample() -> None:
    # The sample's random prefix is "8908d0ff052afda0" (providers.md §10.6a).
    assert WECOM.encrypt(b"1288432023552776189", random_prefix=b"8908d0ff052afda0") == ECHOSTR


@settings(max_examples=60, deadline=None, database=None)
@given(message=st.binary(max_size=300))
def test_round_trip_and_wechatpy_interoperability(message: bytes) -> None:
    encrypt = WECOM.encrypt(message)
    assert "\n" not in encrypt
    assert WECOM.decrypt(encrypt) == message
    sdk = WeChatCrypto(WECOM.token, "6qkdMrq68nTKduznJYO1A37W2oEgpkMUvkttRToqhUt", WECOM.receive_id)
    text = message.decode("latin-1")  # wechatpy works on text; latin-1 keeps bytes 1:1
    sdk_encrypt = sdk.encrypt_message(text, "n", "1")
    start = sdk_encrypt.index("<![CDATA[") + 9
    ciphertext = sdk_encrypt[start : sdk_encrypt.index("]]>", start)]
    assert WECOM.decrypt(ciphertext) == text.encode()


def test_other_receive_id_is_refused() -> None:
    other = WxMsgCrypt(token=WECOM.token, key=WECOM.key, receive_id="ww0000000000000000")
    with pytest.raises(WxCryptoError):
        other.decrypt(ECHOSTR)


@pytest.mark.parametrize(
    "encrypt",
    ["", "not base64", base64.b64encode(b"x" * 15).decode(), base64.b64encode(b"x" * 32).decode()],
)
def test_malformed_ciphertexts_raise_wx_crypto_error(encrypt: str) -> None:
    with pytest.raises(WxCryptoError):
        WECOM.decrypt(encrypt)


@pytest.mark.parametrize("key", ["", "a" * 42, "a" * 44, "!" * 43])
def test_encoding_aes_key_must_be_43_base64_characters(key: str) -> None:
    with pytest.raises(ValueError, match="must"):
        decode_encoding_aes_key(key)


def test_repr_hides_token_and_key() -> None:
    assert WECOM.token not in repr(WECOM)
    assert "key=" not in repr(WECOM)
