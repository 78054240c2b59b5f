"""The shared webhook types and helpers in gateway.providers.webhooks."""

from __future__ import annotations

from typing import ClassVar

import pytest
from pydantic import BaseModel, SecretStr

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.webhooks import (
    SIGNATURE_INVALID,
    TIMESTAMP_STALE,
    WEBHOOK_CONFIG,
    HandshakeResponse,
    InboundRequest,
    VerifiedWebhook,
    WebhookVerifier,
    check_timestamp,
    constant_time_equal,
    lookup_path,
    parse_form,
    parse_json,
    require_secret,
    unauthenticated,
)


def test_inbound_request_lower_cases_header_names() -> None:
    request = InboundRequest("post", {"X-Slack-Signature": "v0=1"}, {}, b"", 0.0)
    assert request.method == "POST"
    assert request.headers == {"x-slack-signature": "v0=1"}
    assert request.header("X-SLACK-SIGNATURE") == "v0=1"
    assert request.header("missing") is None


@pytest.mark.parametrize(("offset", "ok"), [(-300, True), (300, True), (-301, False), (301, False)])
def test_timestamp_window_bounds_are_inclusive(offset: int, ok: bool) -> None:
    now = 1_700_000_000.0
    if ok:
        check_timestamp(str(int(now) + offset), now)
    else:
        with pytest.raises(SignatureInvalid, match="window") as info:
            check_timestamp(str(int(now) + offset), now)
        assert info.value.code == TIMESTAMP_STALE


def test_millisecond_timestamps() -> None:
    check_timestamp("1700003600000", 1_700_000_000.0, tolerance=3600, milliseconds=True)
    with pytest.raises(SignatureInvalid):
        check_timestamp("1700003600001", 1_700_000_000.0, tolerance=3600, milliseconds=True)


@pytest.mark.parametrize("raw", ["", "-1", "+5", "1e9", " 1", "1.5", "²", "9" * 17])
def test_malformed_timestamps_are_signature_invalid(raw: str) -> None:
    with pytest.raises(SignatureInvalid) as info:
        check_timestamp(raw, 0.0)
    assert info.value.code == SIGNATURE_INVALID


def test_constant_time_equal_accepts_any_text() -> None:
    assert constant_time_equal("é", "é".encode())
    assert not constant_time_equal("\ud800", "x")
    assert not constant_time_equal("abc", "abd")


def test_empty_secret_is_refused_without_naming_the_value() -> None:
    with pytest.raises(SignatureInvalid) as info:
        require_secret(SecretStr(""), "signing_secret")
    assert "signing_secret" in str(info.value)
    with pytest.raises(SignatureInvalid):
        require_secret(None, "signing_secret")
    assert require_secret(SecretStr("k"), "x") == b"k"


def test_handshake_constructors() -> None:
    assert HandshakeResponse.from_json({"challenge": "é"}) == HandshakeResponse(
        200, '{"challenge":"é"}'.encode(), "application/json"
    )
    assert HandshakeResponse.from_text(b"123") == HandshakeResponse(200, b"123", "text/plain")
    assert HandshakeResponse.empty() == HandshakeResponse(204, b"", "text/plain")


def test_parsers() -> None:
    assert parse_form(b"a=1&a=2&b=") == {"a": "1", "b": ""}
    with pytest.raises(BadRequest):
        parse_form(b"\xff")
    assert parse_json(b"[1]") == [1]
    for bad in (b"1", b'"x"', b"{", b"[" * 100_000):
        with pytest.raises(BadRequest):
            parse_json(bad)


def test_lookup_path() -> None:
    document = {"data": {"items": [{"id": 7}], "id": "x"}}
    assert lookup_path(document, "data.id") == "x"
    assert lookup_path(document, "data.items.0.id") == 7
    assert lookup_path(document, "data.items.5.id") is None
    assert lookup_path(document, "data.id.deeper") is None


class _Config(BaseModel):
    model_config = WEBHOOK_CONFIG
    secret: SecretStr


class _EchoVerifier(WebhookVerifier[_Config]):
    """Accepts a request whose body equals the secret; fails with a per-secret message."""

    provider: ClassVar[str] = "echo"
    config_schema: ClassVar[type[BaseModel]] = _Config
    secret_fields: ClassVar[tuple[str, ...]] = ("secret",)

    def verify_single(self, request: InboundRequest, config: _Config) -> VerifiedWebhook:
        if request.body == b"bad-json":
            raise BadRequest("x")
        if request.body != config.secret.get_secret_value().encode():
            raise unauthenticated(SIGNATURE_INVALID, f"mismatch {len(config.secret)}")
        return VerifiedWebhook(None, None, {})


def test_rotation_tries_every_config_and_reports_the_current_ones_failure() -> None:
    verifier = _EchoVerifier()
    current, old = _Config(secret=SecretStr("new")), _Config(secret=SecretStr("older"))
    request = InboundRequest("POST", {}, {}, b"older", 0.0)
    assert verifier.verify(request, current, [old]).payload == {}
    with pytest.raises(SignatureInvalid, match="mismatch 3"):
        verifier.verify(InboundRequest("POST", {}, {}, b"zzz", 0.0), current, [old])
    with pytest.raises(BadRequest):  # an authenticated-but-broken body stops the loop
        verifier.verify(InboundRequest("POST", {}, {}, b"bad-json", 0.0), current, [old])
