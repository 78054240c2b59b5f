"""Behaviour every verifier shares (reliability.md W1/W2), run against each provider case."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from typing import Any

import pytest
from pydantic import ValidationError

from gateway.kit.errors import BadRequest, SignatureInvalid
from gateway.providers.webhooks import SIGNATURE_INVALID, TIMESTAMP_STALE, sha256_hex
from tests.providers.webhooks.cases import CASES, NOW, Case, deliver, noncanonical_json
from tests.providers.webhooks.signing import SignedDelivery, json_bytes

ALL = pytest.mark.parametrize("case", CASES, ids=str)
BODY_SIGNED = pytest.mark.parametrize("case", [c for c in CASES if c.body_authenticated], ids=str)
SIGNATURE_CARRIED = pytest.mark.parametrize(
    "case", [c for c in CASES if c.signature_header or c.signature_query], ids=str
)
TIMED = pytest.mark.parametrize("case", [c for c in CASES if c.tolerance is not None], ids=str)
AUTH_OUTSIDE_BODY = pytest.mark.parametrize(
    "case", [c for c in CASES if c.auth_headers or c.auth_query], ids=str
)
ROTATABLE = pytest.mark.parametrize("case", [c for c in CASES if c.previous != c.current], ids=str)


def _flip_bit(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def _flip_signature(case: Case, value: str) -> str:
    """Flip one bit of the *decoded* signature (or one character of a plain token)."""
    body = value.removeprefix(case.signature_prefix)
    if case.signature_encoding == "hex":
        flipped = _flip_bit(bytes.fromhex(body), 0).hex()
    elif case.signature_encoding == "base64":
        flipped = base64.b64encode(_flip_bit(base64.b64decode(body), 0)).decode()
    else:
        flipped = body[:-1] + ("A" if body[-1] != "A" else "B")
    return case.signature_prefix + flipped


def _tamper_signature(case: Case, delivery: SignedDelivery) -> SignedDelivery:
    if case.signature_header:
        value = delivery.headers[
            next(k for k in delivery.headers if k.lower() == case.signature_header)
        ]
        return delivery.with_headers(**{case.signature_header: _flip_signature(case, value)})
    assert case.signature_query
    flipped = _flip_signature(case, delivery.query[case.signature_query])
    return delivery.with_query(**{case.signature_query: flipped})


def _verify(case: Case, delivery: SignedDelivery, now: float = NOW, **kw: Any) -> Any:
    return case.verifier.verify(delivery.request(now), case.config, **kw)


def _reject(case: Case, delivery: SignedDelivery, now: float = NOW, **kw: Any) -> SignatureInvalid:
    with pytest.raises(SignatureInvalid) as info:
        _verify(case, delivery, now, **kw)
    assert info.value.status_code == 401
    return info.value


@ALL
def test_signed_event_verifies_with_id_type_and_payload(case: Case) -> None:
    delivery = deliver(case)
    result = _verify(case, delivery)
    expected_id = sha256_hex(delivery.body) if case.expected_id == "<digest>" else case.expected_id
    assert result.provider_event_id == expected_id
    assert result.event_type == case.expected_type
    assert result.payload == case.event
    assert result.handshake is None
    assert result.is_retry is False


@ALL
def test_noncanonical_json_verifies_without_reserialisation(case: Case) -> None:
    body = noncanonical_json(case.event)
    assert body != json_bytes(case.event)
    assert b"\\u00e9" in body  # the escape survives: we never re-serialise before verifying
    result = _verify(case, case.sign(case.current, body, NOW))
    assert result.payload == json.loads(body) == case.event


@BODY_SIGNED
def test_one_flipped_body_bit_is_rejected(case: Case) -> None:
    delivery = deliver(case)
    tampered = replace(delivery, body=_flip_bit(delivery.body, len(delivery.body) // 2))
    _reject(case, tampered)


@SIGNATURE_CARRIED
def test_one_flipped_signature_bit_is_rejected(case: Case) -> None:
    error = _reject(case, _tamper_signature(case, deliver(case)))
    assert error.code in {SIGNATURE_INVALID, "token_invalid"}


@TIMED
@pytest.mark.parametrize("direction", [-1, 1], ids=["past", "future"])
def test_timestamp_window_is_enforced_both_ways(case: Case, direction: int) -> None:
    assert case.tolerance is not None
    inside = int(NOW + direction * (case.tolerance - 1))
    outside = int(NOW + direction * (case.tolerance + 1))
    assert _verify(case, deliver(case, at=inside)).payload == case.event
    assert _reject(case, deliver(case, at=outside)).code == TIMESTAMP_STALE


@AUTH_OUTSIDE_BODY
def test_each_missing_auth_header_or_parameter_is_401(case: Case) -> None:
    delivery = deliver(case)
    for name in case.auth_headers:
        assert _reject(case, delivery.with_headers(**{name: None})).code == case.missing_code
        assert _reject(case, delivery.with_headers(**{name: ""})).code == case.missing_code
    for name in case.auth_query:
        assert _reject(case, delivery.with_query(**{name: None})).code == case.missing_code


@ALL
def test_empty_secret_never_verifies(case: Case) -> None:
    material = case.empty_material if case.empty_material is not None else case.current
    delivery = case.sign(material, json_bytes(case.event), NOW)
    with pytest.raises(SignatureInvalid):
        case.verifier.verify(delivery.request(NOW), case.empty_config)
    # Nor does an empty config listed as a "previous" secret.
    with pytest.raises(SignatureInvalid):
        case.verifier.verify(delivery.request(NOW), case.empty_config, [case.empty_config])


@ALL
def test_schema_rejects_empty_secrets_naming_the_field(case: Case) -> None:
    raw = {
        name: (value.get_secret_value() if hasattr(value, "get_secret_value") else value)
        for name, value in case.config
    }
    for field in case.verifier.secret_fields:
        if raw.get(field) is None:
            continue
        with pytest.raises(ValidationError) as info:
            case.verifier.parse_config({**raw, field: ""})
        assert field in str(info.value)


@ALL
def test_secrets_never_appear_in_reprs_or_errors(case: Case) -> None:
    config = case.config
    secrets = [
        value.get_secret_value()
        for name, value in config
        if name in case.verifier.secret_fields and value is not None
    ]
    text = repr(config) + str(config)
    carries_signature = case.signature_header or case.signature_query
    error = _reject(case, _tamper_signature(case, deliver(case))) if carries_signature else None
    for secret in secrets:
        assert secret not in text
        if error is not None:
            assert secret not in str(error)
            assert secret not in repr(error.extra)


@ROTATABLE
def test_rotation_accepts_previous_secret_only_while_listed(case: Case) -> None:
    delivery = case.sign(case.previous, json_bytes(case.event), NOW)
    request = delivery.request(NOW)
    result = case.verifier.verify(request, case.config, [case.previous_config])
    assert result.payload == case.event
    with pytest.raises(SignatureInvalid):
        case.verifier.verify(request, case.config)
    # The current secret keeps working while a previous one is listed.
    assert case.verifier.verify(deliver(case).request(NOW), case.config, [case.previous_config])


@ALL
def test_parse_config_round_trips(case: Case) -> None:
    raw = {
        name: (value.get_secret_value() if hasattr(value, "get_secret_value") else value)
        for name, value in case.config
    }
    assert case.verifier.parse_config(raw) == case.config
    with pytest.raises(ValidationError, match="unexpected_field"):
        case.verifier.parse_config({**raw, "unexpected_field": 1})


@BODY_SIGNED
def test_well_signed_unparseable_body_is_400_not_401(case: Case) -> None:
    with pytest.raises(BadRequest) as info:
        _verify(case, case.sign(case.current, b"[1, 2", NOW))
    assert info.value.status_code == 400
