"""Generic HMAC: every algorithm/encoding/prefix combination and the id/type extraction."""

from __future__ import annotations

import hashlib
import hmac
from typing import Literal

import pytest
from pydantic import SecretStr, ValidationError

from gateway.kit.errors import SignatureInvalid
from gateway.providers.generic.webhook import VERIFIER, GenericWebhookConfig
from gateway.providers.webhooks import SIGNATURE_MISSING
from tests.providers.webhooks.signing import SignedDelivery, sign_generic

NOW = 1_700_000_000
BODY = b'{"data": {"object": {"id": "obj_1"}, "kind": ["a", "b"]}, "event": "paid"}'


@pytest.mark.parametrize("algorithm", ["sha256", "sha1", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64"])
@pytest.mark.parametrize("prefix", ["", "sha256=", "v1="])
def test_every_algorithm_encoding_and_prefix(
    algorithm: Literal["sha256", "sha1", "sha512"], encoding: Literal["hex", "base64"], prefix: str
) -> None:
    config = GenericWebhookConfig(
        secret=SecretStr("s3cret"),
        signature_header="X-Sig",
        algorithm=algorithm,
        encoding=encoding,
        prefix=prefix,
        event_id_path="data.object.id",
        event_type_path="event",
    )
    delivery = sign_generic(
        "s3cret",
        BODY,
        signature_header="X-Sig",
        algorithm=algorithm,
        encoding=encoding,
        prefix=prefix,
    )
    result = VERIFIER.verify(delivery.request(NOW), config)
    assert (result.provider_event_id, result.event_type) == ("obj_1", "paid")
    other = config.model_copy(update={"algorithm": "sha1" if algorithm != "sha1" else "sha256"})
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(delivery.request(NOW), other)


def test_independently_computed_hex_signature_is_case_insensitive() -> None:
    digest = hmac.new(b"s3cret", BODY, hashlib.sha256).hexdigest().upper()
    config = GenericWebhookConfig(secret=SecretStr("s3cret"), signature_header="X-Sig")
    result = VERIFIER.verify(SignedDelivery(BODY, {"x-sig": digest}).request(NOW), config)
    assert result.provider_event_id is None
    assert result.event_type is None


def test_ids_from_headers_win_over_paths_and_list_indexes_work() -> None:
    config = GenericWebhookConfig(
        secret=SecretStr("s3cret"),
        signature_header="X-Sig",
        event_id_header="X-Delivery",
        event_id_path="data.object.id",
        event_type_path="data.kind.1",
    )
    delivery = sign_generic(
        "s3cret", BODY, signature_header="X-Sig", extra_headers={"X-Delivery": "d-1"}
    )
    result = VERIFIER.verify(delivery.request(NOW), config)
    assert (result.provider_event_id, result.event_type) == ("d-1", "b")


def test_timestamp_header_is_signed_and_required() -> None:
    config = GenericWebhookConfig(
        secret=SecretStr("s3cret"), signature_header="X-Sig", timestamp_header="X-Ts"
    )
    delivery = sign_generic(
        "s3cret", BODY, signature_header="X-Sig", timestamp_header="X-Ts", timestamp=NOW
    )
    assert VERIFIER.verify(delivery.request(NOW), config)
    # The same signature over the body alone (no timestamp) must not verify.
    body_only = sign_generic("s3cret", BODY, signature_header="X-Sig").with_headers(x_ts=str(NOW))
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(body_only.request(NOW), config)
    with pytest.raises(SignatureInvalid) as info:
        VERIFIER.verify(delivery.with_headers(x_ts=None).request(NOW), config)
    assert info.value.code == SIGNATURE_MISSING


def test_missing_prefix_is_rejected() -> None:
    config = GenericWebhookConfig(
        secret=SecretStr("s3cret"), signature_header="X-Sig", prefix="sha256="
    )
    delivery = sign_generic("s3cret", BODY, signature_header="X-Sig")
    with pytest.raises(SignatureInvalid):
        VERIFIER.verify(delivery.request(NOW), config)


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"secret": "s", "signature_header": "X Sig"}, "signature_header"),
        ({"secret": "s", "signature_header": "X-Sig", "algorithm": "md5"}, "algorithm"),
        ({"secret": "s", "signature_header": "X-Sig", "encoding": "base32"}, "encoding"),
        ({"secret": "s"}, "signature_header"),
    ],
)
def test_config_errors_name_the_field(raw: dict[str, str], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        VERIFIER.parse_config(raw)
