"""Connection secrets in and out of their ciphertext columns (AES-GCM bound to the row).

``access_token_enc`` and ``refresh_token_enc`` hold one token each; ``credentials_enc`` holds a
JSON object of further secrets (a Slack user token, the app secret of a credential connection).
Decrypt at the point of use; everything decrypted is a ``SecretStr``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pydantic import SecretStr

from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.errors import DecryptionFailed
from gateway.models import Connection


@dataclass(frozen=True)
class OpenedSecrets:
    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    extra: dict[str, SecretStr] = field(default_factory=dict)

    def extra_values(self) -> dict[str, str]:
        return {key: value.get_secret_value() for key, value in self.extra.items()}


def _where(row: Connection, column: str) -> FieldContext:
    return FieldContext("connections", column, row.id, row.tenant_id)


def open_secrets(keyring: Keyring, row: Connection) -> OpenedSecrets:
    """Decrypt every secret of ``row``; :class:`DecryptionFailed` if any ciphertext is bad."""

    def token(column: str, stored: str | None) -> SecretStr | None:
        return SecretStr(keyring.decrypt(stored, _where(row, column))) if stored else None

    extra: dict[str, SecretStr] = {}
    if row.credentials_enc:
        raw = keyring.decrypt(row.credentials_enc, _where(row, "credentials_enc"))
        try:
            decoded = json.loads(raw)
        except ValueError:
            raise DecryptionFailed("stored credentials are not a JSON object") from None
        if not isinstance(decoded, dict):
            raise DecryptionFailed("stored credentials are not a JSON object")
        extra = {str(k): SecretStr(str(v)) for k, v in decoded.items() if v is not None}
    return OpenedSecrets(
        access_token=token("access_token_enc", row.access_token_enc),
        refresh_token=token("refresh_token_enc", row.refresh_token_enc),
        extra=extra,
    )


def seal_secrets(
    keyring: Keyring,
    row: Connection,
    *,
    access_token: SecretStr | None,
    refresh_token: SecretStr | None,
    extra: dict[str, SecretStr],
) -> None:
    """Encrypt into ``row`` (its ``id`` and ``tenant_id`` must already be set)."""

    def seal(column: str, value: str | None) -> str | None:
        return keyring.encrypt(value, _where(row, column)) if value else None

    row.access_token_enc = seal(
        "access_token_enc", access_token.get_secret_value() if access_token else None
    )
    row.refresh_token_enc = seal(
        "refresh_token_enc", refresh_token.get_secret_value() if refresh_token else None
    )
    plain = {key: value.get_secret_value() for key, value in extra.items()}
    row.credentials_enc = seal("credentials_enc", json.dumps(plain) if plain else None)


def wipe_secrets(row: Connection) -> None:
    row.access_token_enc = None
    row.refresh_token_enc = None
    row.credentials_enc = None
