"""Webhook endpoint lifecycle: per-provider config validation, encryption and rotation.

The whole config (secrets included) is one JSON document encrypted into ``config_enc``, bound to
the row (AES-GCM associated data). ``config_public`` repeats the keys the verifier does not list
as secret, for display. Any config change moves the old document to ``previous_config_enc``,
which keeps verifying until ``previous_valid_until`` (``webhook_secret_overlap_seconds``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, SecretStr, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from gateway.kit.crypto import FieldContext, Keyring
from gateway.kit.errors import DecryptionFailed, NotFound, ValidationFailed
from gateway.kit.ids import new_id
from gateway.kit.settings import Settings
from gateway.models import WebhookEndpoint
from gateway.models.base import utcnow
from gateway.providers.base import Provider
from gateway.providers.registry import get_provider
from gateway.providers.webhooks import WebhookVerifier
from gateway.webhooks import repository
from gateway.webhooks.schemas import WebhookEndpointCreate, WebhookEndpointUpdate

TABLE = "webhook_endpoints"
CONFIG_COLUMN = "config_enc"
PREVIOUS_COLUMN = "previous_config_enc"


@dataclass(frozen=True)
class EndpointConfigs:
    """Decrypted, parsed configs of one endpoint, as the receiver uses them."""

    current: BaseModel
    previous: BaseModel | None
    previous_valid_until: datetime | None


def _invalid(loc: list[str | int], msg: str, kind: str) -> ValidationFailed:
    where = ".".join(str(part) for part in loc[1:])
    return ValidationFailed(
        f"{where}: {msg}", extra={"errors": [{"loc": loc, "msg": msg, "type": kind}]}
    )


def webhook_provider(name: str) -> tuple[Provider, WebhookVerifier[Any]]:
    """The provider (``feishu`` → lark) and its verifier, or 422 naming ``provider``."""
    provider = get_provider(name)
    if provider is None or provider.verifier is None:
        raise _invalid(["body", "provider"], "unknown provider or no webhook support", "value")
    return provider, provider.verifier


def same_provider(a: str, b: str) -> bool:
    """Whether two provider ids or aliases name the same provider."""
    first, second = get_provider(a), get_provider(b)
    return first is not None and second is not None and first.id == second.id


def validate_config(verifier: WebhookVerifier[Any], data: Mapping[str, Any]) -> BaseModel:
    """Parse with the verifier's schema; 422 naming each bad field, never echoing values."""
    try:
        config: BaseModel = verifier.parse_config(data)
    except ValidationError as exc:
        errors = [
            {
                "loc": ["body", "config", *[str(p) for p in error["loc"]]],
                "msg": str(error["msg"]),
                "type": str(error["type"]),
            }
            for error in exc.errors(include_input=False, include_url=False, include_context=False)
        ]
        first = errors[0]
        where = ".".join(str(p) for p in first["loc"][1:])
        raise ValidationFailed(f"{where}: {first['msg']}", extra={"errors": errors}) from None
    return config


def config_document(config: BaseModel) -> dict[str, Any]:
    """The config as plain JSON data, secrets unwrapped (only ever stored encrypted)."""
    document: dict[str, Any] = {}
    for name, value in config.model_dump(mode="python").items():
        if value is None:
            continue
        document[name] = value.get_secret_value() if isinstance(value, SecretStr) else value
    return document


def public_part(verifier: WebhookVerifier[Any], document: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in document.items() if k not in verifier.secret_fields}


def secrets_set(
    verifier: WebhookVerifier[Any], row: WebhookEndpoint, keyring: Keyring
) -> list[str]:
    """Names of the secret keys present in the stored config (values never leave)."""
    try:
        document = _open(keyring, row, CONFIG_COLUMN, row.config_enc)
    except (ValueError, DecryptionFailed):
        return []
    return sorted(k for k in verifier.secret_fields if document.get(k))


def _where(row: WebhookEndpoint, column: str) -> FieldContext:
    return FieldContext(table=TABLE, column=column, row_id=row.id, tenant_id=row.tenant_id)


def _seal(keyring: Keyring, row: WebhookEndpoint, column: str, document: Mapping[str, Any]) -> str:
    return keyring.encrypt(json.dumps(document, separators=(",", ":")), _where(row, column))


def _open(keyring: Keyring, row: WebhookEndpoint, column: str, stored: str) -> dict[str, Any]:
    """Decrypt a stored config (``DecryptionFailed`` propagates; ValueError if not an object)."""
    document = json.loads(keyring.decrypt(stored, _where(row, column)))
    if not isinstance(document, dict):
        raise ValueError("stored config is not an object")
    return document


def load_configs(keyring: Keyring, row: WebhookEndpoint) -> EndpointConfigs:
    """Decrypt and parse the current (and still stored previous) config of an endpoint."""
    _, verifier = webhook_provider(row.provider)
    current = verifier.parse_config(_open(keyring, row, CONFIG_COLUMN, row.config_enc))
    previous = None
    if row.previous_config_enc is not None and row.previous_valid_until is not None:
        stored = _open(keyring, row, PREVIOUS_COLUMN, row.previous_config_enc)
        previous = verifier.parse_config(stored)
    return EndpointConfigs(current, previous, row.previous_valid_until)


def endpoint_url(settings: Settings, row: WebhookEndpoint) -> str:
    return f"{settings.resolved_public_base_url}/webhooks/{row.provider}/{row.id}"


async def _check_connection(
    session: AsyncSession, tenant_id: str, provider: str, connection_id: str
) -> None:
    connection = await repository.get_tenant_connection(session, tenant_id, connection_id)
    if connection is None:
        raise NotFound("connection not found", code="connection_not_found")
    if not same_provider(connection.provider, provider):
        raise _invalid(["body", "connection_id"], "connection belongs to another provider", "value")


async def create_endpoint(
    session: AsyncSession, keyring: Keyring, tenant_id: str, body: WebhookEndpointCreate
) -> WebhookEndpoint:
    _, verifier = webhook_provider(body.provider)
    config = validate_config(verifier, body.config)
    if body.connection_id is not None:
        await _check_connection(session, tenant_id, body.provider, body.connection_id)
    document = config_document(config)
    row = WebhookEndpoint(
        id=new_id("whe"),  # the id is part of the ciphertext's associated data: make it first
        tenant_id=tenant_id,
        provider=body.provider,
        description=body.description,
        connection_id=body.connection_id,
        enabled=body.enabled,
        config_enc="",
        config_public=public_part(verifier, document),
    )
    row.config_enc = _seal(keyring, row, CONFIG_COLUMN, document)
    session.add(row)
    await session.flush()
    return row


async def update_endpoint(
    session: AsyncSession,
    keyring: Keyring,
    settings: Settings,
    row: WebhookEndpoint,
    body: WebhookEndpointUpdate,
) -> WebhookEndpoint:
    """Apply a partial update; a changed config rotates (old one valid for the overlap)."""
    changes = body.model_fields_set
    _, verifier = webhook_provider(row.provider)
    if "config" in changes and body.config is not None:
        old = _open(keyring, row, CONFIG_COLUMN, row.config_enc)
        merged = {k: v for k, v in {**old, **body.config}.items() if v is not None}
        document = config_document(validate_config(verifier, merged))
        if document != old:
            now = utcnow()
            overlap = settings.webhook_secret_overlap_seconds
            if overlap > 0:
                row.previous_config_enc = _seal(keyring, row, PREVIOUS_COLUMN, old)
                row.previous_valid_until = now + timedelta(seconds=overlap)
            else:
                row.previous_config_enc = None
                row.previous_valid_until = None
            row.config_enc = _seal(keyring, row, CONFIG_COLUMN, document)
            row.config_public = public_part(verifier, document)
    if "connection_id" in changes:
        if body.connection_id is not None:
            await _check_connection(session, row.tenant_id, row.provider, body.connection_id)
        row.connection_id = body.connection_id
    if "description" in changes:
        row.description = body.description
    if "enabled" in changes and body.enabled is not None:
        row.enabled = body.enabled
    row.updated_at = utcnow()
    await session.flush()
    return row


async def delete_endpoint(session: AsyncSession, row: WebhookEndpoint) -> None:
    """Delete the endpoint; its stored events stay readable in the events API."""
    await repository.delete_endpoint(session, row)
