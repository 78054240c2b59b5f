"""Keyring: round trip, binding to the row (AAD), tamper detection, several keys."""

from __future__ import annotations

import base64

import pytest

from gateway.kit.crypto import FieldContext, Keyring, KeyringError, generate_key_line, key_id_of
from gateway.kit.errors import DecryptionFailed

WHERE = FieldContext("connections", "access_token_enc", "con_1", "ten_a")


def test_round_trip_and_key_id_is_stored() -> None:
    ring = Keyring.parse(generate_key_line("k1"))
    stored = ring.encrypt("xoxb-secret-token", WHERE)
    assert "xoxb" not in stored
    assert key_id_of(stored) == "k1"
    assert ring.decrypt(stored, WHERE) == "xoxb-secret-token"


def test_same_plaintext_encrypts_differently_each_time() -> None:
    ring = Keyring.parse(generate_key_line("k1"))
    assert ring.encrypt("x", WHERE) != ring.encrypt("x", WHERE)


@pytest.mark.parametrize(
    "moved",
    [
        FieldContext("connections", "access_token_enc", "con_2", "ten_a"),  # other row
        FieldContext("connections", "access_token_enc", "con_1", "ten_b"),  # other tenant
        FieldContext("connections", "refresh_token_enc", "con_1", "ten_a"),  # other column
        FieldContext("webhook_endpoints", "access_token_enc", "con_1", "ten_a"),  # other table
    ],
)
def test_ciphertext_moved_elsewhere_is_rejected(moved: FieldContext) -> None:
    ring = Keyring.parse(generate_key_line("k1"))
    stored = ring.encrypt("token", WHERE)
    with pytest.raises(DecryptionFailed):
        ring.decrypt(stored, moved)


def test_every_flipped_byte_is_rejected() -> None:
    ring = Keyring.parse(generate_key_line("k1"))
    stored = ring.encrypt("token-value", WHERE)
    prefix, blob = stored.rsplit(":", 1)
    raw = bytearray(base64.urlsafe_b64decode(blob))
    for i in range(len(raw)):
        tampered = bytearray(raw)
        tampered[i] ^= 0x01
        candidate = f"{prefix}:{base64.urlsafe_b64encode(bytes(tampered)).decode()}"
        with pytest.raises(DecryptionFailed):
            ring.decrypt(candidate, WHERE)


def test_old_keys_decrypt_newest_encrypts() -> None:
    old_line = generate_key_line("old")
    old = Keyring.parse(old_line)
    stored_old = old.encrypt("v", WHERE)
    both = Keyring.parse(generate_key_line("new") + "," + old_line)
    assert both.primary_key_id == "new"
    assert both.decrypt(stored_old, WHERE) == "v"
    assert both.needs_rotation(stored_old)
    fresh = both.reencrypt(stored_old, WHERE)
    assert key_id_of(fresh) == "new"
    assert both.decrypt(fresh, WHERE) == "v"


def test_unknown_key_id_is_a_typed_error() -> None:
    a = Keyring.parse(generate_key_line("a"))
    b = Keyring.parse(generate_key_line("b"))
    with pytest.raises(DecryptionFailed):
        b.decrypt(a.encrypt("v", WHERE), WHERE)


@pytest.mark.parametrize("spec", ["", "nokey", "k1:not-base64!!", "k1:AAAA", "bad id:" + "A" * 44])
def test_malformed_key_configuration_is_refused(spec: str) -> None:
    with pytest.raises(KeyringError):
        Keyring.parse(spec)


def test_keyring_repr_hides_material() -> None:
    line = generate_key_line("k1")
    assert line.split(":", 1)[1] not in repr(Keyring.parse(line))
