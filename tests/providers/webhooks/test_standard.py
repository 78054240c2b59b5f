"""Standard Webhooks: reference-library vector and cross-checks against `standardwebhooks`."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr, ValidationError
from standardwebhooks import Webhook

from gateway.kit.errors import SignatureInvalid
from gateway.providers.standard.webhook import VERIFIER, StandardWebhookConfig
from tests.providers.webhooks.signing import SignedDelivery, sign_standard, standard_signature

# shared/providers.md §10.3 (standard-webhooks test_sign_function)
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
MSG_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
TIMESTAMP = 1614265330
PAYLOAD = b'{"test": 2432232314}'
SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
V1A_ENTRY = (  # §10.5, same message signed with the RFC 8032 key
    "v1a,fldxM4gAKugP6nnt1hdz3sgGfZ6d99nzrMFnZOELIxbzEHoVmAb2ADpkJK7zgPePmPsle0zV9jSeGlHFG2NVAw=="
)
CONFIG = StandardWebhookConfig(secret=SecretStr(SECRET))


def _vector(signature: str = SIGNATURE) -> SignedDelivery:
    headers = {
        "webhook-id": MSG_ID,
        "webhook-timestamp": str(TIMESTAMP),
        "webhook-signature": signature,
    }
    return SignedDelivery(PAYLOAD, headers)


def test_reference_vector_verifies() -> None:
    result = VERIFIER.verify(_vector().request(TIMESTAMP), CONFIG)
    assert result.payload == {"test": 2432232314}
    assert result.provider_event_id == MSG_ID
    assert result.event_type is None
    assert standard_signature(SECRET, MSG_ID, TIMESTAMP, PAYLOAD) == SIGNATURE


def test_reference_library_signature_verifies() -> None:
    body = b'{"type":"user.created","data":{"id":"u_1"}}'
    sdk = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(1_700_000_000, tz=UTC), body.decode())
    headers = {"webhook-id": MSG_ID, "webhook-timestamp": "1700000000", "webhook-signature": sdk}
    result = VERIFIER.verify(SignedDelivery(body, headers).request(1_700_000_000), CONFIG)
    assert result.event_type == "user.created"


def test_reference_library_accepts_our_signature() -> None:
    now = int(time.time())  # Webhook.verify uses the real clock
    delivery = sign_standard(SECRET, "msg_1", now, b'{"a": 1}')
    assert Webhook(SECRET).verify(delivery.body, delivery.headers) == {"a": 1}


@pytest.mark.parametrize(
    "signature_header",
    [
        f"v1,bm9wZQ== {SIGNATURE}",  # sender mid-rotation: any matching v1 entry wins
        f"{SIGNATURE} {V1A_ENTRY}",  # ed25519 entries are ignored, not a failure
    ],
)
def test_any_matching_v1_entry_is_enough(signature_header: str) -> None:
    assert VERIFIER.verify(_vector(signature_header).request(TIMESTAMP), CONFIG)


@pytest.mark.parametrize(
    "signature_header",
    ["v1a," + SIGNATURE[3:], "v2," + SIGNATURE[3:], SIGNATURE[3:], "v1," + SIGNATURE[3:] + "x"],
)
def test_non_v1_or_damaged_entries_never_match(signature_header: str) -> None:
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(_vector(signature_header).request(TIMESTAMP), CONFIG)


def test_unpadded_and_unprefixed_secrets_are_accepted() -> None:
    bare = StandardWebhookConfig(secret=SecretStr(SECRET.removeprefix("whsec_")))
    assert VERIFIER.verify(_vector().request(TIMESTAMP), bare)
    unpadded_secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAA"  # 25 bytes, no padding
    signed = sign_standard(unpadded_secret, MSG_ID, TIMESTAMP, PAYLOAD)
    config = StandardWebhookConfig(secret=SecretStr(unpadded_secret))
    assert VERIFIER.verify(signed.request(TIMESTAMP), config)


@pytest.mark.parametrize("secret", ["whsec_", "whsec_not base64!", "whsec_a"])
def test_malformed_secret_is_a_validation_error_naming_the_field(secret: str) -> None:
    with pytest.raises(ValidationError) as info:
        VERIFIER.parse_config({"secret": secret})
    assert "secret" in str(info.value)
    assert "not base64" not in str(info.value)
