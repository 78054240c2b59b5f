"""Slack: official vector, slack_sdk cross-check, handshake and body shapes."""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest
from pydantic import SecretStr
from slack_sdk.signature import Clock, SignatureVerifier

from gateway.kit.errors import SignatureInvalid
from gateway.providers.slack.webhook import VERIFIER, SlackWebhookConfig
from gateway.providers.webhooks import TIMESTAMP_STALE
from tests.providers.webhooks.signing import SignedDelivery, json_bytes, sign_slack

# shared/providers.md §10.1 (Slack docs and slack_sdk tests)
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TIMESTAMP = 1531420618
BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlf"
    b"mibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
CONFIG = SlackWebhookConfig(signing_secret=SecretStr(SECRET))


def _official(**extra: str) -> SignedDelivery:
    headers = {
        "X-Slack-Request-Timestamp": str(TIMESTAMP),
        "X-Slack-Signature": SIGNATURE,
        "Content-Type": "application/x-www-form-urlencoded",
        **extra,
    }
    return SignedDelivery(body=BODY, headers=headers)


def test_official_vector_verifies_as_slash_command_with_frozen_clock() -> None:
    result = VERIFIER.verify(_official().request(TIMESTAMP), CONFIG)
    assert result.event_type == "slash_command"
    assert result.provider_event_id == "398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    assert isinstance(result.payload, dict)
    assert result.payload["command"] == "/webhook-collect"
    assert result.payload["text"] == ""  # blank values are kept
    assert result.handshake is None
    assert result.ack is None


def test_official_vector_is_stale_five_minutes_later() -> None:
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(_official().request(TIMESTAMP + 301), CONFIG)
    assert info.value.code == TIMESTAMP_STALE


def test_our_signer_reproduces_the_official_signature() -> None:
    assert sign_slack(SECRET, BODY, TIMESTAMP).headers["X-Slack-Signature"] == SIGNATURE


def test_sdk_generated_signature_verifies_and_sdk_accepts_ours() -> None:
    body = json_bytes(
        {"type": "event_callback", "event_id": "Ev1", "event": {"type": "app_mention"}}
    )
    sdk = SignatureVerifier(SECRET, clock=_FrozenClock(1_700_000_000))
    sdk_signature = sdk.generate_signature(timestamp="1700000000", body=body)
    assert sdk_signature is not None
    headers = {"X-Slack-Request-Timestamp": "1700000000", "X-Slack-Signature": sdk_signature}
    result = VERIFIER.verify(SignedDelivery(body, headers).request(1_700_000_000), CONFIG)
    assert (result.provider_event_id, result.event_type) == ("Ev1", "app_mention")

    ours = sign_slack(SECRET, body, 1_700_000_000)
    assert sdk.is_valid_request(body, ours.headers)


def test_url_verification_answers_the_challenge_after_verifying() -> None:
    challenge = "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    body = (
        b'{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"' + challenge.encode() + b'",'
        b'"type":"url_verification"}'
    )
    result = VERIFIER.verify(sign_slack(SECRET, body, TIMESTAMP).request(TIMESTAMP), CONFIG)
    assert result.handshake is not None
    assert result.handshake.status_code == 200
    assert result.handshake.media_type == "application/json"
    assert result.handshake.body == b'{"challenge":"' + challenge.encode() + b'"}'

    # Unsigned (or wrongly signed) challenges get no answer: the handshake proves nothing.
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(SignedDelivery(body).request(TIMESTAMP), CONFIG)
    forged = sign_slack("another-secret", body, TIMESTAMP)
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(forged.request(TIMESTAMP), CONFIG)


def test_interactivity_payload_is_decoded_and_trigger_id_is_the_key() -> None:
    payload = {"type": "block_actions", "trigger_id": "13345224609.738474920.8088930838d88f008e0"}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    delivery = sign_slack(SECRET, body, TIMESTAMP, content_type="application/x-www-form-urlencoded")
    result = VERIFIER.verify(delivery.request(TIMESTAMP), CONFIG)
    assert result.payload == {"payload": payload}
    assert result.event_type == "block_actions"
    assert result.provider_event_id == payload["trigger_id"]


@pytest.mark.parametrize(
    "payload",
    [
        {"type": "interactive_message", "action_ts": "1548426417.840180"},
        {"type": "block_actions", "actions": [{"action_ts": "1548426417.840180"}]},
    ],
)
def test_interactivity_without_trigger_id_falls_back_to_action_ts(
    payload: dict[str, object],
) -> None:
    body = urlencode({"payload": json.dumps(payload)}).encode()
    delivery = sign_slack(SECRET, body, TIMESTAMP, content_type="application/x-www-form-urlencoded")
    assert VERIFIER.verify(delivery.request(TIMESTAMP), CONFIG).provider_event_id == (
        "1548426417.840180"
    )


def test_retry_header_marks_a_redelivery_with_the_same_event_id() -> None:
    body = json_bytes({"type": "event_callback", "event_id": "Ev9", "event": {"type": "message"}})
    first = VERIFIER.verify(sign_slack(SECRET, body, TIMESTAMP).request(TIMESTAMP), CONFIG)
    retry = sign_slack(SECRET, body, TIMESTAMP + 60, retry_num=1)
    again = VERIFIER.verify(retry.request(TIMESTAMP + 60), CONFIG)
    assert (first.is_retry, again.is_retry) == (False, True)
    assert first.provider_event_id == again.provider_event_id == "Ev9"


def test_envelope_type_is_used_when_there_is_no_inner_event() -> None:
    body = json_bytes({"type": "app_rate_limited", "team_id": "T1", "minute_rate_limited": 1})
    result = VERIFIER.verify(sign_slack(SECRET, body, TIMESTAMP).request(TIMESTAMP), CONFIG)
    assert (result.event_type, result.provider_event_id) == ("app_rate_limited", None)


def test_malformed_timestamp_is_rejected_before_any_hmac() -> None:
    for bad in ("+1531420618", " 1531420618", "1531420618.0", "١٥٣١٤٢٠٦١٨"):
        with pytest.raises(SignatureInvalid):
            VERIFIER.verify(
                _official(**{"X-Slack-Request-Timestamp": bad}).request(TIMESTAMP), CONFIG
            )


class _FrozenClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now
