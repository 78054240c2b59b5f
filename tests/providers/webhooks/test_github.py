"""GitHub: official vector, legacy header refusal, form-encoded deliveries."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from pydantic import SecretStr

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.github.webhook import VERIFIER, GitHubWebhookConfig
from gateway.providers.webhooks import SIGNATURE_INVALID, SIGNATURE_MISSING
from tests.providers.webhooks.signing import SignedDelivery, json_bytes, sign_github

# shared/providers.md §10.2 (docs.github.com "Validating webhook deliveries")
SECRET = "It's a Secret to Everybody"
PAYLOAD = b"Hello, World!"
SIGNATURE = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
CONFIG = GitHubWebhookConfig(secret=SecretStr(SECRET))
NOW = 1_700_000_000


def test_official_vector_authenticates_then_fails_to_parse_as_json() -> None:
    # "Hello, World!" is not JSON: a 400 (not a 401) proves the signature itself was accepted.
    delivery = SignedDelivery(PAYLOAD, {"X-Hub-Signature-256": SIGNATURE})
    with pytest.raises(BadRequest):
        VERIFIER.verify(delivery.request(NOW), CONFIG)
    assert sign_github(SECRET, PAYLOAD).headers["X-Hub-Signature-256"] == SIGNATURE


def test_official_vector_with_another_secret_is_401() -> None:
    delivery = SignedDelivery(PAYLOAD, {"X-Hub-Signature-256": SIGNATURE})
    other = GitHubWebhookConfig(secret=SecretStr("It's a secret to everybody"))
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), other)
    assert info.value.code == SIGNATURE_INVALID


def test_ping_is_an_ordinary_event_keyed_by_delivery() -> None:
    body = json_bytes({"zen": "Keep it logically awesome.", "hook_id": 30})
    delivery = sign_github(SECRET, body, event="ping", delivery="9f5c2f70-0d3b-11ef")
    result = VERIFIER.verify(delivery.request(NOW), CONFIG)
    assert (result.event_type, result.provider_event_id) == ("ping", "9f5c2f70-0d3b-11ef")
    assert result.handshake is None


def test_legacy_sha1_header_alone_is_not_accepted() -> None:
    delivery = SignedDelivery(
        b"{}", {"X-Hub-Signature": "sha1=0b4e9d2ea1f2bd4b0d6f8a3d46a8e69ecb6e8f3c"}
    )
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.request(NOW), CONFIG)
    assert info.value.code == SIGNATURE_MISSING


def test_signature_without_prefix_or_uppercase_prefix_is_rejected() -> None:
    digest = SIGNATURE.removeprefix("sha256=")
    for value in (digest, "SHA256=" + digest, "sha1=" + digest):
        delivery = SignedDelivery(PAYLOAD, {"X-Hub-Signature-256": value})
        with pytest.raises(SignatureInvalid):
            VERIFIER.verify(delivery.request(NOW), CONFIG)


def test_form_encoded_delivery_yields_the_json_payload() -> None:
    body = urlencode({"payload": '{"action": "opened", "number": 7}'}).encode()
    delivery = sign_github(SECRET, body).with_headers(
        content_type="application/x-www-form-urlencoded"
    )
    assert VERIFIER.verify(delivery.request(NOW), CONFIG).payload == {
        "action": "opened",
        "number": 7,
    }
