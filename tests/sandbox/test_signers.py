"""The CLI's signers against the gateway's own verifiers: every shipped sample, signed for an
endpoint of its platform, verifies (and decrypts) to the sample's content."""

from __future__ import annotations

import base64
import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from gateway.providers.registry import get_provider
from gateway.providers.webhooks import InboundRequest, VerifiedWebhook
from gateway.sandbox.deliveries import DeliveryError, build_delivery
from gateway.sandbox.signers import SignedDelivery, discord_public_key
from gateway.webhooks.service import config_document

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SEED = bytes(range(32))


def _aes_key() -> str:
    return base64.b64encode(os.urandom(32)).decode().rstrip("=")


CONFIGS: dict[str, dict[str, Any]] = {
    "slack": {"signing_secret": "8f742231b10e8888abcd99yyyzzz85a5"},
    "discord": {"public_key": discord_public_key(SEED)},
    "telegram": {"secret_token": "tg_Secret-123"},
    "lark": {"verification_token": "vt-123", "encrypt_key": "lark-encrypt-key"},
    "dingtalk": {"mode": "robot", "app_secret": "ding-app-secret"},
    "wecom": {"token": "wecom-token", "encoding_aes_key": _aes_key(), "corp_id": "ww1436e0e65"},
    "github": {"secret": "gh-secret"},
    "standard": {"secret": "whsec_" + base64.b64encode(b"k" * 24).decode()},
    "generic": {
        "secret": "generic-secret",
        "signature_header": "X-Signature",
        "encoding": "base64",
        "prefix": "sha256=",
        "timestamp_header": "X-Timestamp",
    },
    "sandbox": {},
}
SAMPLE_FILES = sorted(p for p in SAMPLES.glob("*/*.json"))


def _verify(provider: str, config: dict[str, Any], delivery: SignedDelivery) -> VerifiedWebhook:
    found = get_provider(provider)
    assert found is not None
    assert found.verifier is not None
    verifier = found.verifier
    request = InboundRequest(
        method=delivery.method,
        headers=delivery.headers,
        query=delivery.query,
        body=delivery.body,
        now=time.time(),
    )
    return verifier.verify(request, verifier.parse_config(config))


def _config(provider: str) -> dict[str, Any]:
    config = CONFIGS[provider]
    if provider == "sandbox":  # what an endpoint created with config {} stores
        verifier = get_provider("sandbox").verifier  # type: ignore[union-attr]
        return config_document(verifier.parse_config(config))  # type: ignore[union-attr]
    return config


def test_every_platform_has_samples() -> None:
    assert {path.parent.name for path in SAMPLE_FILES} == set(CONFIGS)


@pytest.mark.parametrize("sample", SAMPLE_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_each_sample_verifies_for_an_endpoint_of_its_platform(sample: Path) -> None:
    provider = sample.parent.name
    if provider == "dingtalk" and sample.stem != "message":
        config = {
            "mode": "event",
            "token": "ding-token",
            "aes_key": _aes_key(),
            "app_key": "dingapp",
        }
    else:
        config = _config(provider)
    delivery = build_delivery(
        provider,
        config,
        sample.read_bytes(),
        now=time.time(),
        discord_private_key=SEED.hex(),
        event_name=sample.stem,
    )
    verified = _verify(provider, config, delivery)
    original = json.loads(sample.read_bytes())
    if verified.handshake is None:
        assert isinstance(verified.payload, dict)
        # Same content, except the dedup id the sender refreshed (and Lark's token).
        shared = {k for k in original if k not in {"event_id", "update_id", "id", "msgId"}}
        shared -= {"header", "MsgId", "EventId", "token"}
        assert {k: verified.payload.get(k) for k in shared} == {k: original[k] for k in shared}


def test_wecom_xml_messages_are_encrypted_in_xml_mode() -> None:
    config = CONFIGS["wecom"]
    xml = b"<xml><ToUserName>ww1436e0e65</ToUserName><FromUserName>zhang</FromUserName>"
    xml += b"<CreateTime>1476422779</CreateTime><MsgType>text</MsgType><Content>hi</Content>"
    xml += b"<MsgId>1456453720</MsgId><AgentID>1000002</AgentID></xml>"
    delivery = build_delivery("wecom", config, xml, now=time.time())
    assert delivery.headers["Content-Type"] == "text/xml"
    verified = _verify("wecom", config, delivery)
    assert isinstance(verified.payload, dict)
    assert verified.payload["Content"] == "hi"


def test_fresh_ids_make_every_send_a_new_event_unless_kept() -> None:
    body = (SAMPLES / "slack" / "message.json").read_bytes()
    config = CONFIGS["slack"]
    ids = {
        _verify(
            "slack", config, build_delivery("slack", config, body, now=time.time())
        ).provider_event_id
        for _ in range(3)
    }
    assert len(ids) == 3
    kept = build_delivery("slack", config, body, now=time.time(), keep_ids=True)
    assert _verify("slack", config, kept).provider_event_id == json.loads(body)["event_id"]


def test_lark_events_carry_the_endpoint_verification_token() -> None:
    config = {"verification_token": "the-endpoints-token"}
    body = (SAMPLES / "lark" / "message.json").read_bytes()
    verified = _verify("lark", config, build_delivery("lark", config, body, now=time.time()))
    assert isinstance(verified.payload, dict)
    assert verified.payload["header"]["token"] == "the-endpoints-token"


def test_discord_needs_the_matching_private_key() -> None:
    body = (SAMPLES / "discord" / "interaction_command.json").read_bytes()
    config = CONFIGS["discord"]
    with pytest.raises(DeliveryError, match="private key"):
        build_delivery("discord", config, body, now=time.time())
    with pytest.raises(DeliveryError, match="does not match"):
        build_delivery(
            "discord", config, body, now=time.time(), discord_private_key=bytes(32).hex()
        )


def test_a_signature_for_one_secret_does_not_verify_with_another() -> None:
    body = (SAMPLES / "github" / "push.json").read_bytes()
    delivery = build_delivery("github", {"secret": "one"}, body, now=time.time(), event_name="push")
    with pytest.raises(Exception, match="signature"):
        _verify("github", {"secret": "two"}, delivery)


def test_unknown_providers_and_missing_secrets_are_refused() -> None:
    with pytest.raises(DeliveryError, match="no signer"):
        build_delivery("myspace", {}, b"{}", now=time.time())
    with pytest.raises(DeliveryError, match="signing_secret"):
        build_delivery("slack", {}, b"{}", now=time.time())
